"""Events written by the ingest's own transaction (the outbox): a `new` event per inserted
tender, a `changed` event per updated tender whose tracked fields changed, with old and new
values. Committed with the change or rolled back with it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.alerts.entities import TenderEvent

_NEW_EVENTS = text(
    "INSERT INTO tender_events (id, tender_id, kind, run_id) "
    "SELECT gen_random_uuid(), id, 'new', CAST(:run_id AS uuid) "
    "FROM unnest(CAST(:ids AS uuid[])) AS t(id)"
)


async def record_events(
    session: AsyncSession,
    *,
    inserted: Sequence[uuid.UUID],
    changed: Sequence[tuple[uuid.UUID, dict[str, list[str | None]]]],
    run_id: uuid.UUID | None,
) -> int:
    """`inserted`: ids of new tenders; `changed`: (id, {field: [old, new]}) of updated ones.
    Returns how many events were written."""
    if inserted:
        await session.execute(_NEW_EVENTS, {"ids": list(inserted), "run_id": run_id})
    if changed:
        rows: list[dict[str, Any]] = [
            {"tender_id": tender_id, "kind": "changed", "changes": changes, "run_id": run_id}
            for tender_id, changes in changed
        ]
        await session.execute(insert(TenderEvent), rows)
    return len(inserted) + len(changed)
