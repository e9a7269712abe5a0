"""`tenders servers` and `tenders stop`: the embedded PostgreSQL and Redis as a Python user
or an operator sees them. Neither command goes through the CLI's own server resolution:
`stop` must never start a server, and `servers` says which URLs come from the environment."""

from __future__ import annotations

import shlex
import sys
from urllib.parse import urlsplit, urlunsplit

from configs.config import Settings
from src.cli.display import printable


def masked(url: str) -> str:
    """`url` with its password shown as ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def print_servers() -> None:
    """One `NAME=URL` line per server (quoted for a shell; a .env file reads it too). A URL
    set in the environment is shown as a comment, its password hidden."""
    from src.infra import embedded

    settings = Settings()
    data_dir = settings.data_dir.resolve()
    lines = []
    for name, value, start in (
        ("DATABASE_URL", settings.database_url, embedded.postgres_url),
        ("REDIS_URL", settings.redis_url, embedded.redis_url),
    ):
        if value is not None:
            lines.append(f"# {name} is set in the environment: {masked(value.get_secret_value())}")
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            lines.append(f"{name}={shlex.quote(start(data_dir))}")
    print("\n".join(printable(line) for line in lines))
    if settings.database_url is None or settings.redis_url is None:
        print(f"embedded servers under {data_dir}; `tenders stop` stops them", file=sys.stderr)


def stop_servers() -> None:
    from src.infra import embedded

    data_dir = Settings().data_dir.resolve()
    stopped = embedded.stop(data_dir)
    if not stopped:
        print(f"nothing to stop: no embedded server runs under {printable(data_dir)}")
        return
    for found in stopped:
        print(f"stopped {printable(found)}")
