"""Binary COPY into a temporary staging table, on the session's own connection: inside the
caller's transaction (or savepoint), so a batch staged here is written or rolled back with
everything else the unit of work did.

A batch travels as tuples that asyncpg encodes in C, where an `INSERT … SELECT FROM
unnest(arrays)` costs statement building and one array per column; one `INSERT … SELECT …
FROM <staging>` then moves it on (see `domain.tender.services.bulk`). `copy_records` is the
same COPY into any table (rows known to be new go straight into theirs).

The table is created once per connection (`IF NOT EXISTS`, so a rolled-back creation or a
PgBouncer in transaction mode costs one more `CREATE`), in `pg_temp`, and emptied at every
commit (`ON COMMIT DELETE ROWS`, which PostgreSQL skips for transactions that touched no
temporary table). Whoever reads it empties it too (`DELETE … RETURNING`): a savepoint's
release is no commit, and two batches in one transaction must not see each other's rows.

Columns named `compressed` (whole publications, a few KB each) are compressed with lz4 where
the server has it: their values keep that compression when they move on, and lz4 takes well
under half of pglz's time for them. Whether it has is asked once per connection.

What the database (or the driver, encoding a value) refuses is raised as a SQLAlchemy
`DBAPIError` over the asyncpg error, with its SQLSTATE, as a statement's error would be: the
callers' handling of refused data (`infra.errors.is_refused_data`) sees no difference."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from asyncpg.pgproto import pgproto
from sqlalchemy import TextClause, text
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

TEMPORARY_SCHEMA = "pg_temp"


@dataclass(frozen=True)
class StagingTable:
    """A temporary table of `columns`, (name, PostgreSQL type), in that order: the order of
    the tuples `copy_to_staging` is given."""

    name: str
    columns: tuple[tuple[str, str], ...]
    compressed: frozenset[str] = frozenset()
    create: TextClause = field(init=False, repr=False, compare=False)
    create_lz4: TextClause = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "create", text(self._ddl("")))
        object.__setattr__(self, "create_lz4", text(self._ddl(" COMPRESSION lz4")))

    def _ddl(self, compression: str) -> str:
        columns = ", ".join(
            f"{name} {kind}{compression if name in self.compressed else ''}"
            for name, kind in self.columns
        )
        # Names and types come from the callers' constants, never from input.
        return (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.qualified} ({columns}) "
            "ON COMMIT DELETE ROWS"
        )

    @property
    def qualified(self) -> str:
        return f"{TEMPORARY_SCHEMA}.{self.name}"

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]


async def copy_to_staging(
    session: AsyncSession, staging: StagingTable, records: Sequence[tuple[Any, ...]]
) -> None:
    """Create `staging` if this connection has none, and COPY `records` into it."""
    # Through the session first: this also starts the driver's transaction, which asyncpg
    # begins lazily on the first statement (a COPY before it would commit on its own).
    connection = await session.connection()
    lz4 = bool(staging.compressed) and await _has_lz4(session, connection)
    await session.execute(staging.create_lz4 if lz4 else staging.create)
    await copy_records(session, staging.name, staging.names, records, schema_name=TEMPORARY_SCHEMA)


async def copy_records(
    session: AsyncSession,
    table: str,
    columns: Sequence[str],
    records: Sequence[tuple[Any, ...]],
    *,
    schema_name: str | None = None,
) -> None:
    """Binary COPY of `records` (tuples of `columns`) into `table`, in the session's open
    transaction (or savepoint); a refusal is raised as a statement's would be."""
    connection = await session.connection()
    driver: asyncpg.Connection = (await connection.get_raw_connection()).driver_connection
    qualified = f"{schema_name}.{table}" if schema_name else table
    if not driver.is_in_transaction():
        raise RuntimeError(f"COPY into {qualified} outside a transaction")
    statement = f"COPY {qualified} FROM STDIN (FORMAT binary)"
    try:
        await driver.copy_records_to_table(
            table, records=records, columns=list(columns), schema_name=schema_name
        )
    except asyncpg.PostgresError as error:
        raise _statement_error(statement, error) from error
    except (ArithmeticError, ValueError, TypeError) as error:
        if isinstance(error, asyncpg.InterfaceError):
            raise
        # A value the driver could not encode: refused data, as asyncpg reports it for a
        # statement's parameters (SQLSTATE 22000); the COPY was cancelled.
        refused = asyncpg.DataError(f"invalid input for {statement}: {error}")
        refused.__cause__ = error
        raise _statement_error(statement, refused) from refused


# Byte 6 of a version 4 UUID starts with 0100, byte 8 with 10 (the RFC 4122 variant).
_VERSION_4 = bytes(byte & 0x0F | 0x40 for byte in range(256))
_VARIANT = bytes(byte & 0x3F | 0x80 for byte in range(256))


def new_ids(count: int) -> list[uuid.UUID]:
    """`count` random (version 4) UUIDs for rows COPied in: one read of the system's random
    source for all of them, and the driver's own UUID type (a `uuid.UUID`, which it encodes
    without a detour), where `uuid.uuid4()` reads it once per id."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_VARIANT)
    return [pgproto.UUID(bytes(raw[start : start + 16])) for start in range(0, len(raw), 16)]


_LZ4 = text(
    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
)


async def _has_lz4(session: AsyncSession, connection: AsyncConnection) -> bool:
    """Whether the server compresses with lz4, asked once per (pooled) connection."""
    known = connection.info.get("lz4")
    if known is None:
        known = connection.info["lz4"] = bool((await session.execute(_LZ4)).scalar())
    return bool(known)


def _statement_error(statement: str, error: asyncpg.PostgresError) -> StatementError:
    """The error as SQLAlchemy raises a statement's (a `DBAPIError` subclass by SQLSTATE
    class), without parameters: the rows may be whole publications."""
    wrapped: StatementError = DBAPIError.instance(
        statement, None, error, asyncpg.PostgresError, hide_parameters=True
    )
    return wrapped
