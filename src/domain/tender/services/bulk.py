"""One statement per batch: `INSERT … SELECT * FROM unnest(arrays) ON CONFLICT … DO UPDATE
… WHERE <newer or changed>`. Each column travels as one array (encoded by asyncpg in C), so
a batch costs one round trip and almost no Python per row, where an executemany costs a
parameter set per row."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import TextClause, text

_NEVER = "'1900-01-01T00:00:00Z'::timestamptz"
_STORED_AT = f"COALESCE(stored.source_updated_at, {_NEVER})"
_INCOMING_AT = f"COALESCE(EXCLUDED.source_updated_at, {_NEVER})"
# The no-regression rule, in SQL so that it holds under concurrent writers too.
NEWER_OR_CHANGED = (
    f"({_STORED_AT} < {_INCOMING_AT} OR ({_STORED_AT} = {_INCOMING_AT} "
    "AND stored.content_hash IS DISTINCT FROM EXCLUDED.content_hash))"
)


def upsert_statement(
    table: str,
    columns: Sequence[tuple[str, str]],
    *,
    conflict: str,
    updated: Sequence[str],
    returning: str | None = None,
) -> TextClause:
    """`columns` are (name, PostgreSQL type); `updated` the columns a newer version sets."""
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in columns)
    assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in updated)
    # Table and column names come from this module's callers, never from input.
    sql = (
        f"INSERT INTO {table} AS stored ({names}) SELECT * FROM unnest({arrays}) "  # noqa: S608
        f"ON CONFLICT {conflict} DO UPDATE SET {assignments}, updated_at = now() "
        f"WHERE {NEWER_OR_CHANGED}"
    )
    if returning:
        sql += f" RETURNING {returning}"
    return text(sql)


def as_arrays(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {name: [row[name] for row in rows] for name, _ in columns}


def new_ids(count: int) -> list[uuid.UUID]:
    """Random (version 4) ids from one read of the system's random source."""
    data = os.urandom(16 * count)
    return [uuid.UUID(bytes=data[i : i + 16], version=4) for i in range(0, 16 * count, 16)]
