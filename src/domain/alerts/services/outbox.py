"""Events written by the ingest's own transaction (the outbox): a `new` event per inserted
tender, a `changed` event per updated tender whose tracked fields changed, with old and new
values. Committed with the change or rolled back with it.

While no watch exists, nothing is written: the event would be dropped unread by the next
match anyway, and a fresh ingest of a million tenders would write and delete a million rows.
The check is part of the same statement, so a watch committed before a batch writes its
tenders sees that batch's events (a watch sees what is written after it exists)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Result, text
from sqlalchemy.ext.asyncio import AsyncSession

_NEW_EVENTS = text(
    "INSERT INTO tender_events (id, tender_id, kind, run_id) "
    "SELECT gen_random_uuid(), id, 'new', CAST(:run_id AS uuid) "
    "FROM unnest(CAST(:ids AS uuid[])) AS t(id) WHERE EXISTS (SELECT 1 FROM watches)"
)
_CHANGED_EVENTS = text(
    "INSERT INTO tender_events (id, tender_id, kind, changes, run_id) "
    "SELECT gen_random_uuid(), id, 'changed', CAST(changes AS jsonb), CAST(:run_id AS uuid) "
    "FROM unnest(CAST(:ids AS uuid[]), CAST(:changes AS text[])) AS t(id, changes) "
    "WHERE EXISTS (SELECT 1 FROM watches)"
)


async def record_events(
    session: AsyncSession,
    *,
    inserted: Sequence[uuid.UUID],
    changed: Sequence[tuple[uuid.UUID, dict[str, list[str | None]]]],
    run_id: uuid.UUID | None,
) -> int:
    """`inserted`: ids of new tenders; `changed`: (id, {field: [old, new]}) of updated ones.
    Returns how many events were written (none while no watch exists)."""
    written = 0
    if inserted:
        result = await session.execute(_NEW_EVENTS, {"ids": list(inserted), "run_id": run_id})
        written += _rowcount(result)
    if changed:
        result = await session.execute(
            _CHANGED_EVENTS,
            {
                "ids": [tender_id for tender_id, _ in changed],
                "changes": [orjson.dumps(changes).decode() for _, changes in changed],
                "run_id": run_id,
            },
        )
        written += _rowcount(result)
    return written


def _rowcount(result: Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
