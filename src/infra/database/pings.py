"""Pinging pooled connections only when they may have gone stale. SQLAlchemy's
`pool_pre_ping` pings at every checkout: a round trip before each API request or batch,
about a tenth of a read request's CPU. Here a connection is pinged when it has sat in the
pool for `after` seconds or more (a restart, a firewall's idle timeout or the server's
`idle_session_timeout` can have closed it meanwhile); one in steady use is not. A
connection that breaks between two close uses fails its statement, and SQLAlchemy then
invalidates the whole pool, so the connections after it are fresh."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine

_RETURNED_AT = "tenders_returned_at"


def ping_when_idle(engine: AsyncEngine, after: float) -> None:
    """Ping a connection at checkout when it was returned to the pool `after` seconds ago or
    more; a failed ping discards it and the pool hands out another (as pre-ping does)."""
    sync_engine = engine.sync_engine
    dialect = sync_engine.dialect

    @event.listens_for(sync_engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is None or time.monotonic() - returned < after:
            return  # new (just connected), or in steady use
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(f"a pooled connection failed its ping: {error}") from error
        if not alive:
            raise exc.DisconnectionError("a pooled connection failed its ping")
