"""Sorting errors by what to do about them: transient ones are retried with backoff."""

from __future__ import annotations

import asyncpg
import httpx
import redis.exceptions
from sqlalchemy import exc as sa_exc

from src.infra.source_policy import NameLookupFailed, no_such_name

# SQLSTATE classes and codes that a retry can fix.
_TRANSIENT_SQLSTATES = {
    "40001",
    "40P01",
    "55P03",
    "57P01",
    "57P02",
    "57P03",
    "53300",
    "08000",
    "08001",
    "08003",
    "08004",
    "08006",
    "08007",
}

_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    # A prepared statement cached before a migration changed what it reads: the driver
    # drops it from the cache, and the statement prepared again works.
    asyncpg.InvalidCachedStatementError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.TooManyConnectionsError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    httpx.TransportError,
    NameLookupFailed,
)


def is_transient(error: BaseException) -> bool:
    """True when the error (or any error in its cause chain) is worth a retry. A host name
    that does not exist is not: connection refused and timeouts are, a typo never heals."""
    if no_such_name(error):
        return False
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _TRANSIENT_TYPES):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa_exc.OperationalError | sa_exc.InterfaceError):
            return True
        if isinstance(current, sa_exc.TimeoutError):  # pool exhausted for pool_timeout
            return True
        sqlstate = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate in _TRANSIENT_SQLSTATES:
            return True
        if isinstance(current, httpx.HTTPStatusError) and (
            current.response.status_code >= 500 or current.response.status_code == 429
        ):
            return True
        current = current.__cause__
    return False


# SQLSTATEs that refuse the data itself, not the statement or the server: a data exception
# (a value out of range, bad encoding), an integrity constraint, an index row too large. The
# same row fails again; the other rows of its batch would pass.
_DATA_SQLSTATE_CLASSES = ("22", "23")
_DATA_SQLSTATES = {"54000"}


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not e for e in seen):
        seen.append(current)
        current = current.__cause__
    return seen


def _sqlstate(error: BaseException) -> str | None:
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return sqlstate if isinstance(sqlstate, str) else None


def is_refused_data(error: BaseException) -> bool:
    """True when the database refused the data a statement carried (see above): worth
    finding the row, not retrying the batch, nor failing the run."""
    for current in _chain(error):
        sqlstate = _sqlstate(current)
        if sqlstate and (sqlstate[:2] in _DATA_SQLSTATE_CLASSES or sqlstate in _DATA_SQLSTATES):
            return not is_transient(error)
    return False


def is_unique_violation(error: BaseException) -> bool:
    """True when a unique index refused a row (SQLSTATE 23505): a key written meanwhile."""
    return any(_sqlstate(current) == "23505" for current in _chain(error))


def database_message(error: BaseException) -> str:
    """The database's own words (or the driver's, for a value it could not send), without
    the statement SQLAlchemy adds."""
    for current in reversed(_chain(error)):
        if _sqlstate(current):
            return str(current).strip().splitlines()[0]
    return describe(error)


def describe(error: BaseException) -> str:
    """One line a user can act on, never a URL with a password (URLs are redacted upstream)."""
    text = str(error).strip() or type(error).__name__
    return f"{type(error).__name__}: {text}"
