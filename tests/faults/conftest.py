"""Real processes for fault tests: private PostgreSQL and Redis servers that a test may
restart (never the machine's shared ones), worker processes it may kill, and sources large
enough to be interrupted. Every wait is bounded."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from configs.config import Settings
from src.domain.ingest.enqueue import Enqueued, enqueue_ingest
from src.domain.ingest.entities import IngestRun
from src.infra import embedded
from src.infra.database import create_engine, create_session_factory
from src.infra.queue import create_queue_pool
from tests.conftest import ROOT, Servers, _admin, _copy_database


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


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
        time.sleep(down_seconds)
        self.start()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


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


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(tmp_path / "pg")
    yield server
    server.stop()


@dataclass
class Workers:
    """Worker processes (`tenders worker`) with explicit URLs; killed at the test's end."""

    env: dict[str, str]
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *arguments: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "src.cli", "worker", *arguments],
            cwd=ROOT,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def burst(self, timeout: float = 180, **env: str) -> None:
        process = self.start("--burst", **env)
        process.wait(timeout=timeout)
        assert process.returncode == 0, self.output()

    def output(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.logs.glob("worker-*.log"))
        )

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)


def worker_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "QUEUE_NAME": f"faults:{uuid.uuid4().hex[:8]}",
        "WORKER_POLL_DELAY": "0.05",
        "WORKER_RETRY_BACKOFF": "1.5",
        "JOB_KEEPALIVE_SECONDS": "5",
        "INGEST_BATCH_SIZE": "100",
        "CHUNK_MIN_BYTES": str(1 << 40),  # one job per source, unless a test splits
        "COLUMNS": "250",
        **extra,
    }


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Workers]]:
    made: list[Workers] = []

    def make(env: dict[str, str]) -> Workers:
        logs = tmp_path / f"logs{len(made)}"
        logs.mkdir()
        made.append(Workers(env, logs))
        return made[-1]

    yield make
    for group in made:
        group.stop_all()


@pytest.fixture
async def fault_db(servers: Servers, fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=fresh_database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def second_database_url(servers: Servers, template_database: str) -> AsyncIterator[str]:
    """Another migrated database, for the clean run a faulted one is compared with."""
    name = await _copy_database(servers, template_database)
    yield servers.database(name)
    await _admin(servers, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def latest_run(sessions: async_sessionmaker[AsyncSession]) -> IngestRun | None:
    async with sessions() as session:
        result = await session.execute(
            select(IngestRun).order_by(IngestRun.queued_at.desc()).limit(1)
        )
        return result.scalar_one_or_none()


def sessions_of(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


async def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll an async check until it returns something truthy (bounded)."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


async def table_state(engine: AsyncEngine) -> dict[str, Any]:
    """What a clean run is compared on: every row's identity and content, and the history."""
    from sqlalchemy import func

    from src.domain.tender.entities import Tender, TenderChange

    async with create_session_factory(engine)() as session:
        rows = (
            await session.execute(
                select(Tender.identity_key, Tender.content_hash).order_by(Tender.identity_key)
            )
        ).all()
        changes = await session.scalar(select(func.count()).select_from(TenderChange))
    keys = [key for key, _ in rows]
    return {"rows": len(rows), "distinct": len(set(keys)), "content": rows, "changes": changes}


async def enqueue_sources(env: dict[str, str], *sources: str) -> list[Enqueued]:
    """Enqueue sources as a client of the workers started with `env` would."""
    settings = Settings(
        database_url=env["DATABASE_URL"], redis_url=env["REDIS_URL"], queue_name=env["QUEUE_NAME"]
    )
    engine = create_engine(settings)
    pool = await create_queue_pool(settings)
    try:
        sessions = create_session_factory(engine)
        return [await enqueue_ingest(pool, sessions, source) for source in sources]
    finally:
        await pool.aclose()
        await engine.dispose()
