"""Every error the API answers is JSON: `{"detail": ...}`.

- PostgreSQL or Redis down, unreachable, refusing the credentials, or a database that is not
  migrated: 503 with Retry-After and a reason an operator can act on ("postgres: connection
  refused at 127.0.0.1:5999; retry in a few seconds"). The reason names the server's address,
  never a password (any password from the settings is masked in it, should a driver quote one).
- Anything else that escapes a route: 500 `{"detail": "internal error", "request_id": ...}`;
  the traceback goes to the log under that request id, never to the caller.
- Starlette's own plain-text errors (a refused Host header) are answered as JSON too.

`JsonErrors` is the outermost middleware, so it also sees what the other middleware raise.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis.exceptions
from arq.connections import ArqRedis
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from configs.config import Settings
from src.infra.errors import is_transient

log = logging.getLogger("tenders.api")

RETRY_AFTER_SECONDS = 5
RETRY = "retry in a few seconds"
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Undefined table or column: the schema is older than the code.
_NOT_MIGRATED = frozenset({"42P01", "42703"})


class NotMigratedError(Exception):
    """The database answers but its schema is not the one this code needs."""


@dataclass(frozen=True)
class Outage:
    """A dependency the API cannot use, said so that an operator knows what to do."""

    service: str  # "postgres", "analytics" or "redis"
    what: str  # "connection refused"
    address: str  # "127.0.0.1:5999", or a unix socket's path
    advice: str  # "retry in a few seconds", "run `tenders db upgrade`"

    @property
    def message(self) -> str:
        return f"{self.service}: {self.what} at {self.address}; {self.advice}"


def postgres_address(url: URL) -> str:
    host = url.host or str(url.query.get("host") or "localhost")
    return host if host.startswith("/") else f"{host}:{url.port or 5432}"


def redis_address(queue: ArqRedis) -> str:
    kwargs: dict[str, Any] = queue.connection_pool.connection_kwargs
    if kwargs.get("path"):
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _sqlstate(error: BaseException) -> str:
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return sqlstate if isinstance(sqlstate, str) else ""


def service_of(error: BaseException) -> str | None:
    """Which server an error came from. Redis wraps its own socket errors; asyncpg raises a
    refused or timed-out connect as a bare OSError, so those are PostgreSQL's."""
    causes = list(_causes(error))
    if any(isinstance(c, redis.exceptions.RedisError) for c in causes):
        return "redis"
    postgres_types = (sa_exc.SQLAlchemyError, NotMigratedError)
    if any(isinstance(c, postgres_types) or _sqlstate(c) for c in causes):
        return "postgres"
    if isinstance(error, ConnectionError | TimeoutError | socket.gaierror):
        return "postgres"
    if isinstance(error, OSError) and str(error).startswith("Multiple exceptions"):
        return "postgres"  # asyncpg tried every address a host name resolves to
    return None


def _postgres_what(error: BaseException, setting: str) -> tuple[str, str] | None:
    sqlstate = _sqlstate(error)
    if sqlstate in _NOT_MIGRATED or isinstance(error, NotMigratedError):
        return "the database is not migrated", "run `tenders db upgrade`"
    if sqlstate == "3D000":  # the server's words: database "x" does not exist
        return str(error).strip().splitlines()[0], f"create it or correct {setting}"
    if sqlstate.startswith("28"):
        return "authentication failed", f"check the user and password in {setting}"
    if sqlstate == "57P03":
        return "the server is starting up", RETRY
    if sqlstate in ("57P01", "57P02"):
        return "the server is shutting down", RETRY
    if sqlstate == "53300":
        return "too many connections", RETRY
    if isinstance(error, sa_exc.TimeoutError):
        return "no free connection in the pool", RETRY
    return None


def _what(error: BaseException, setting: str) -> tuple[str, str] | None:
    """What went wrong, and what to do about it: from the most telling error in the chain."""
    for cause in _causes(error):
        found = _postgres_what(cause, setting)
        if found is not None:
            return found
        if isinstance(cause, redis.exceptions.AuthenticationError):
            return "authentication failed", f"check the password in {setting}"
        if isinstance(cause, redis.exceptions.BusyLoadingError):
            return "Redis is loading its data", RETRY
        if isinstance(cause, socket.gaierror):
            return "the host name does not resolve", f"check {setting}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused", RETRY
        if isinstance(cause, TimeoutError | asyncio.TimeoutError | redis.exceptions.TimeoutError):
            return "no answer (timed out)", RETRY
    if is_transient(error) or isinstance(error, OSError):
        return f"cannot connect ({type(error).__name__})", RETRY
    return None


def describe_outage(
    error: BaseException, service: str, address: str, setting: str
) -> Outage | None:
    """The outage an error shows, or None when it is not one (a bug, say)."""
    found = _what(error, setting)
    if found is None:
        return None
    what, advice = found
    return Outage(service, what, address, advice)


def _passwords(settings: Settings) -> list[str]:
    """Every form in which a configured password could appear in a message."""
    found: set[str] = set()
    for secret in (settings.database_url, settings.analytics_database_url, settings.redis_url):
        if secret is not None:
            password = urlsplit(secret.get_secret_value()).password
            if password:
                found.update({password, unquote(password)})
    return sorted(found, key=len, reverse=True)


def mask(text: str, settings: Settings) -> str:
    for password in _passwords(settings):
        text = text.replace(password, "***")
    return text


def _request_id(scope: Scope) -> str:
    given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


class JsonErrors:
    """Outermost middleware: exceptions become JSON 503s or 500s; plain-text errors JSON."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        held: list[Message] = []  # a plain-text error's start and body, to be answered as JSON

        async def send_json_errors(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if message["status"] >= 400 and _plain_text(message):
                    held.append(message)
                    return
            elif held:
                held.append(message)
                if not message.get("more_body", False):
                    await _as_json(held)(scope, receive, send)
                return
            await send(message)

        try:
            await self.app(scope, receive, send_json_errors)
        except Exception as error:
            if started:
                raise
            await self.error_response(scope, error)(scope, receive, send)

    def error_response(self, scope: Scope, error: Exception) -> JSONResponse:
        where = f"{scope.get('method')} {scope.get('path')}"
        outage = self._outage(scope, error)
        if outage is not None:
            detail = mask(outage.message, self.settings)
            log.warning("%s: %s", where, detail)
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
            return JSONResponse({"detail": detail}, 503, headers)
        request_id = _request_id(scope)
        log.error("%s: internal error (request %s)", where, request_id, exc_info=error)
        body = {"detail": "internal error", "request_id": request_id}
        return JSONResponse(body, 500, {REQUEST_ID_HEADER: request_id})

    def _outage(self, scope: Scope, error: Exception) -> Outage | None:
        service = service_of(error)
        if service is None:
            return None
        state = getattr(scope["app"].state, "api", None) if "app" in scope else None
        if service == "redis":
            address = redis_address(state.queue) if state is not None else "REDIS_URL"
            return describe_outage(error, service, address, "REDIS_URL")
        if state is None:
            address = "DATABASE_URL"
        else:
            address = postgres_address(state.engine.url)
            if state.analytics_engine is not state.engine:
                address += " or " + postgres_address(state.analytics_engine.url)
        return describe_outage(error, service, address, "DATABASE_URL")


def _plain_text(start: Message) -> bool:
    content_type = Headers(raw=start.get("headers", [])).get("content-type", "")
    return content_type.startswith("text/plain")


def _as_json(held: list[Message]) -> JSONResponse:
    start, *bodies = held
    text = b"".join(m.get("body", b"") for m in bodies).decode("utf-8", "replace").strip()
    headers = {
        key: value
        for key, value in Headers(raw=start.get("headers", [])).items()
        if key not in ("content-type", "content-length")
    }
    return JSONResponse({"detail": text}, start["status"], headers)
