"""Real servers for tests and the benchmark: the shared PostgreSQL and Redis (TEST_DATABASE_URL /
TEST_REDIS_URL, BENCH_DATABASE_URL / BENCH_REDIS_URL, else the embedded ones), databases copied
from a migrated template, and private servers a fault test may restart (never the machine's
shared ones)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from configs.config import Settings
from src.infra import embedded
from tests.support.polling import wait_for


@dataclass(frozen=True)
class Servers:
    database_url: str  # the server's maintenance database, asyncpg dialect
    redis_url: str
    kind: str = "env"  # where they come from: "env", "embedded" or "env+embedded"

    def database(self, name: str) -> str:
        return make_url(self.database_url).set(database=name).render_as_string(False)

    def admin_dsn(self) -> str:
        url = make_url(self.database_url).set(drivername="postgresql", database="postgres")
        return url.render_as_string(False)


def resolve_servers(database_variable: str, redis_variable: str, data_dir: Path) -> Servers:
    """The servers two environment variables name; for either unset, the embedded one."""
    database_url = os.environ.get(database_variable)
    redis_url = os.environ.get(redis_variable)
    kind = "env"
    if database_url is None or redis_url is None:
        kind = "embedded" if database_url is None and redis_url is None else "env+embedded"
        database_url = database_url or embedded.postgres_url(data_dir, "postgres")
        redis_url = redis_url or embedded.redis_url(data_dir)
    return Servers(Settings(database_url=database_url).require_database_url(), redis_url, kind)


def plain_dsn(url: str) -> str:
    """A SQLAlchemy URL (postgresql+asyncpg://) as a DSN that asyncpg.connect takes."""
    return make_url(url).set(drivername="postgresql").render_as_string(False)


async def admin(servers: Servers, sql: str) -> None:
    connection = await asyncpg.connect(servers.admin_dsn())
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def copy_database(servers: Servers, template: str, prefix: str = "tenders_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await admin(servers, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


async def drop_database(servers: Servers, name: str) -> None:
    await admin(servers, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PrivateRedis:
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        arguments = [
            embedded._redis_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
        ]
        if self.password:
            arguments += ["--requirepass", self.password]
        self.process = subprocess.Popen(
            arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(self._answers, 10, "Redis to start")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as client:
                client.sendall(b"PING\r\n")
                reply = client.recv(64)
                return reply.startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self, down_seconds: float = 3) -> None:
        """A real restart: it keeps nothing (no RDB, no AOF), like the production Redis, and
        stays down long enough for every client to notice."""
        self.stop()
        time.sleep(down_seconds)  # the outage itself: its length is the point, not a wait
        self.start()


@dataclass
class PrivatePostgres:
    data_dir: Path
    server: Any = None

    def start(self) -> str:
        import pgserver

        self.server = pgserver.get_server(  # type: ignore[attr-defined]
            self.data_dir, cleanup_mode="stop"
        )
        self.server.psql("CREATE DATABASE tenders;")
        socket_dir = Path(self.server.pgdata).resolve()
        return f"postgresql+asyncpg://postgres@/tenders?host={socket_dir}"

    def restart(self) -> None:
        """Stop (fast: connections are cut) and start again, as an operator would."""
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(
            ["-w", "-m", "fast", "restart"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
            timeout=60,
        )

    def stop(self) -> None:
        """Stop the server for good (pgserver's own cleanup loses track after a restart)."""
        if self.server is None:
            return
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        with contextlib.suppress(Exception):
            pg_ctl(
                ["-w", "-m", "fast", "stop"],
                pgdata=self.server.pgdata,
                user=self.server.system_user,
                timeout=60,
            )
        self.server = None
