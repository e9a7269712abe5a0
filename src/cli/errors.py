"""Expected failures as one line on stderr and an exit code, never a traceback (that is for
`--verbose` or DEBUG=true): a server that cannot be reached, a database that is missing, not
migrated or refuses the login, a setting that does not parse.

Exit codes: 0 ok, 1 a job or run failed, 2 a usage or configuration error, 3 a server
(PostgreSQL, Redis) unreachable."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis.exceptions
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from configs.config import ConfigurationError, Settings

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

_state = {"verbose": False}


class CliError(Exception):
    """What to print (one line) and the exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def set_verbose(verbose: bool) -> None:
    _state["verbose"] = verbose


def wants_traceback() -> bool:
    debug = os.environ.get("DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
    return _state["verbose"] or debug


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not e for e in seen):
        seen.append(current)
        yield current
        current = current.__cause__ or current.__context__


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def database_place(settings: Settings) -> tuple[str, str]:
    """Where DATABASE_URL points ("host:port" or the socket folder) and the database name,
    without user or password."""
    if settings.database_url is None:
        return "(DATABASE_URL unset)", "?"
    try:
        url = make_url(settings.database_url.get_secret_value())
    except ArgumentError:
        return "(DATABASE_URL unparseable)", "?"
    host = url.host or str(url.query.get("host") or "localhost")
    return (f"{host}:{url.port or 5432}" if url.host else host), url.database or "?"


def redis_place(settings: Settings) -> str:
    if settings.redis_url is None:
        return "(REDIS_URL unset)"
    parts = urlsplit(settings.redis_url.get_secret_value())
    if parts.scheme == "unix":
        return parts.path
    try:
        port = parts.port or 6379
    except ValueError:
        port = 6379
    return f"{parts.hostname or 'localhost'}:{port}"


def database_error(error: BaseException, settings: Settings) -> CliError | None:
    """The line for a database failure, or None when `error` is not one."""
    place, name = database_place(settings)
    for current in _chain(error):
        sqlstate = getattr(current, "sqlstate", None)
        if sqlstate == "3D000":
            return CliError(
                f'the database "{name}" does not exist on PostgreSQL at {place}: create it '
                f"(createdb {name}) or fix DATABASE_URL"
            )
        if sqlstate in ("28P01", "28000"):
            return CliError(
                f"PostgreSQL at {place} refused the login ({str(current).strip()}): check the "
                "user and password in DATABASE_URL"
            )
        if sqlstate in ("42P01", "42703"):
            return CliError(
                f'the database "{name}" at {place} is not migrated ({str(current).strip()}): '
                "run `tenders db upgrade`"
            )
        if isinstance(current, socket.gaierror):
            return CliError(
                f"PostgreSQL's host in DATABASE_URL ({place}) cannot be resolved "
                f"({current.strerror}): fix DATABASE_URL",
                EXIT_UNREACHABLE,
            )
        # asyncpg raises the socket's own errors (a plain OSError for several addresses).
        connecting = isinstance(current, ConnectionError | TimeoutError) or type(current) is OSError
        if connecting or sqlstate in ("57P03", "53300"):
            return CliError(
                f"PostgreSQL at {place} is unreachable ({_first_line(current)}): start it or "
                "fix DATABASE_URL",
                EXIT_UNREACHABLE,
            )
    return None


def redis_error(error: BaseException, settings: Settings) -> CliError | None:
    place = redis_place(settings)
    for current in _chain(error):
        if isinstance(current, redis.exceptions.AuthenticationError):
            return CliError(
                f"Redis at {place} refused the login ({current}): check the password in REDIS_URL"
            )
        if isinstance(current, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
            return CliError(
                f"Redis at {place} is unreachable ({_first_line(current)}): start it or fix "
                "REDIS_URL",
                EXIT_UNREACHABLE,
            )
    return None


@asynccontextmanager
async def database_errors(settings: Settings) -> AsyncIterator[None]:
    """Around work on PostgreSQL: its expected failures become a CliError."""
    try:
        yield
    except (CliError, SystemExit):
        raise
    except Exception as error:
        explained = redis_error(error, settings) or database_error(error, settings)
        if explained is None:
            raise
        raise explained from error


@asynccontextmanager
async def redis_errors(settings: Settings) -> AsyncIterator[None]:
    """Around work on Redis alone: a socket error there is Redis'."""
    try:
        yield
    except (CliError, SystemExit):
        raise
    except (redis.exceptions.RedisError, OSError, TimeoutError) as error:
        explained = redis_error(error, settings)
        if explained is None and isinstance(error, OSError | TimeoutError):
            explained = CliError(
                f"Redis at {redis_place(settings)} is unreachable ({_first_line(error)}): "
                "start it or fix REDIS_URL",
                EXIT_UNREACHABLE,
            )
        if explained is None:
            raise
        raise explained from error


# Values shown as "e.g." for settings whose default is no example.
_EXAMPLES = {
    "database_url": "postgresql://user:password@localhost:5432/tenders",
    "analytics_database_url": "postgresql://user:password@replica:5432/tenders",
    "redis_url": "redis://localhost:6379/0",
    "allowed_source_dirs": '/data (or ["/data", "/srv/feeds"])',
    "trusted_sources": '["https://dati.anticorruzione.it/", "/data/trusted"]',
    "api_tokens": "name:read,write:<sha256> (tenders api-token makes one)",
    "cron_minutes": "[0, 15, 30, 45]",
    "cron_seconds": "[0]",
}


def _example(name: str) -> str:
    if name in _EXAMPLES:
        return _EXAMPLES[name]
    field = Settings.model_fields.get(name)
    if field is None:
        return "see the README's Configuration table"
    default: Any = field.get_default(call_default_factory=True)
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, set | list):
        return json.dumps(sorted(default) if isinstance(default, set) else default)[:60]
    if isinstance(default, Path):
        return str(default)
    return "see the README's Configuration table" if default is None else str(default)


def settings_error(error: BaseException) -> CliError | None:
    """A setting that does not parse: named as its environment variable, with a value that
    would do. The value given is never shown (it may be a password)."""
    if isinstance(error, ConfigurationError):
        return CliError(str(error))
    if isinstance(error, SettingsError):
        found = re.search(r'field "(\w+)"', str(error))
        name = found.group(1) if found else "?"
        return CliError(
            f"{name.upper()} cannot be read ({str(error.__cause__ or error).splitlines()[0]}):"
            f" give e.g. {name.upper()}={_example(name)}"
        )
    if isinstance(error, ValidationError) and error.title == "Settings":
        problems = error.errors(include_input=False, include_url=False)
        first = problems[0]
        name = str(first["loc"][0]) if first["loc"] else "?"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        variable = name.upper()
        message = str(first["msg"]).removeprefix("Value error, ")
        if variable not in message:
            message = f"{variable}: {message}"
        if "e.g." not in message:
            message = f"{message}; give e.g. {variable}={_example(name)}"
        return CliError(message + more)
    return None
