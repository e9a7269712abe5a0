"""One batch, two steps: its rows are COPied into a temporary staging table
(`infra.database.staging`), then one `INSERT … SELECT … FROM <staging> ON CONFLICT … DO
UPDATE … WHERE <newer or changed>` moves them on. Rows travel as tuples encoded by asyncpg in
C, the statement is the same text for every batch, and new rows get their (version 4) ids
from the server.

Rows whose keys the batch's pre-read found in no stored row take one step instead
(`insert_new`): COPied straight into the table with ids made by the writer, which spares
PostgreSQL the staging table and the conflict checks (a fresh ingest is mostly such rows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from src.infra.database.staging import StagingTable, copy_records
from src.infra.errors import is_unique_violation

_NEVER = "'1900-01-01T00:00:00Z'::timestamptz"
_STORED_AT = f"COALESCE(stored.source_updated_at, {_NEVER})"
_INCOMING_AT = f"COALESCE(EXCLUDED.source_updated_at, {_NEVER})"
# The no-regression rule, in SQL so that it holds under concurrent writers too.
NEWER_OR_CHANGED = (
    f"({_STORED_AT} < {_INCOMING_AT} OR ({_STORED_AT} = {_INCOMING_AT} "
    "AND stored.content_hash IS DISTINCT FROM EXCLUDED.content_hash))"
)

_NEVER_AT = datetime(1900, 1, 1, tzinfo=UTC)


def version(value: datetime | None) -> datetime:
    """A source date as the rule compares it: none is older than any."""
    return value if value is not None else _NEVER_AT


def needs_write(
    previous: tuple[str | None, datetime] | None, digest: str, incoming: datetime | None
) -> bool:
    """`NEWER_OR_CHANGED` on a batch's pre-read of (stored hash, `version` of its date): an
    unchanged row costs a read, not a write."""
    if previous is None:
        return True
    stored_digest, stored_at = previous
    incoming_at = version(incoming)
    return incoming_at > stored_at or (incoming_at == stored_at and digest != stored_digest)


def upsert_from_staging(
    table: str,
    staging: StagingTable,
    *,
    conflict: str,
    order_by: str,
    updated: Sequence[str],
    returning: str | None = None,
) -> TextClause:
    """Every row of `staging` into `table`, taken out of `staging` as it is read (so the
    next batch of the same transaction finds it empty), with a new random id; `updated` are
    the columns a newer version sets. Rows go in `order_by` order, the order in which every
    writer locks them."""
    names = ", ".join(staging.names)
    assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in updated)
    # Table and column names come from this module's callers, never from input.
    sql = (
        f"WITH batch AS (DELETE FROM {staging.qualified} RETURNING {names}) "  # noqa: S608
        f"INSERT INTO {table} AS stored ({names}, id) "
        f"SELECT {names}, gen_random_uuid() FROM batch ORDER BY {order_by} "
        f"ON CONFLICT {conflict} DO UPDATE SET {assignments}, updated_at = now() "
        f"WHERE {NEWER_OR_CHANGED}"
    )
    if returning:
        sql += f" RETURNING {returning}"
    return text(sql)


async def insert_new(
    session: AsyncSession,
    table: str,
    columns: Sequence[str],
    records: Sequence[tuple[Any, ...]],
) -> bool:
    """COPY rows whose keys the batch's pre-read found in no stored row straight into
    `table`: no staging, no conflict check. Under a savepoint, in the order of `records`
    (sorted by key, the order in which every writer takes them): when another writer stored
    one of the keys meanwhile, nothing is written and False says so; the caller then takes
    the upsert path, which settles the conflict. Any other refusal is raised as it is."""
    try:
        async with session.begin_nested():
            await copy_records(session, table, columns, records)
    except StatementError as error:
        if not is_unique_violation(error):
            raise
        return False
    return True
