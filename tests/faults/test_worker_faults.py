"""Faults inflicted on real worker processes: SIGKILL and SIGTERM in the middle of a large
ingest, a job that keeps failing. Each ends with the table a clean run would leave."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from configs.config import Settings
from src.domain.ingest.enqueue import enqueue_ingest
from src.infra.database import create_engine, create_session_factory
from src.infra.queue import create_queue_pool
from tests.conftest import ROOT, Servers
from tests.faults.conftest import (
    Workers,
    anac_source,
    latest_run,
    table_state,
    until,
    worker_env,
)
from tests.http_server import Route, serve

pytestmark = pytest.mark.slow


async def _enqueue(env: dict[str, str], source: str) -> None:
    settings = Settings(
        database_url=env["DATABASE_URL"], redis_url=env["REDIS_URL"], queue_name=env["QUEUE_NAME"]
    )
    engine = create_engine(settings)
    pool = await create_queue_pool(settings)
    try:
        await enqueue_ingest(pool, create_session_factory(engine), source)
    finally:
        await pool.aclose()
        await engine.dispose()


async def _clean_state(
    servers: Servers, fresh_url: str, source: Path, workers: Callable[[dict[str, str]], Workers]
) -> dict[str, object]:
    """The same source ingested once, undisturbed, into a database of its own."""
    env = worker_env(fresh_url, servers.redis_url)
    await _enqueue(env, str(source))
    workers(env).burst()
    engine = create_engine(Settings(database_url=fresh_url))
    try:
        return await table_state(engine)
    finally:
        await engine.dispose()


async def test_sigkill_mid_ingest_recovers_in_seconds_with_the_clean_result(
    servers: Servers,
    fault_db: AsyncEngine,
    fresh_database_url: str,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    source = tmp_path / "large.jsonl"
    tenders = anac_source(source, 3000)
    env = worker_env(fresh_database_url, servers.redis_url, INGEST_BATCH_SIZE="50")
    sessions = create_session_factory(fault_db)
    await _enqueue(env, str(source))
    group = workers(env)
    victim = group.start()

    async def some_batches_committed() -> bool:
        run = await latest_run(sessions)
        return run is not None and run.records_done >= 300

    await until(some_batches_committed, 60, "the first batches")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = time.monotonic()
    run = await latest_run(sessions)
    assert run is not None and run.status == "running" and run.records_done < tenders

    group.start()  # a new worker: arq runs the job again once its in-progress key expires

    async def restarted() -> bool:
        current = await latest_run(sessions)
        return current is not None and current.attempts >= 2

    await until(restarted, 60, "the job to start again")
    recovery = time.monotonic() - killed_at

    async def complete() -> bool:
        current = await latest_run(sessions)
        return current is not None and current.status == "complete"

    await until(complete, 120, "the run to complete")
    final = await latest_run(sessions)
    assert final is not None
    assert final.inserted == tenders, (final.inserted, final.unchanged)
    assert final.rejected == 0
    state = await table_state(fault_db)
    assert state["rows"] == state["distinct"] == tenders
    assert state["changes"] == 0, "no spurious history"
    print(f"\nrecovery after SIGKILL: {recovery:.1f} s (keep-alive 5 s)")
    assert recovery < 30


async def test_sigterm_requeues_the_job_which_completes_later(
    servers: Servers,
    fault_db: AsyncEngine,
    fresh_database_url: str,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    source = tmp_path / "large.jsonl"
    tenders = anac_source(source, 3000)
    env = worker_env(fresh_database_url, servers.redis_url, INGEST_BATCH_SIZE="50")
    sessions = create_session_factory(fault_db)
    await _enqueue(env, str(source))
    group = workers(env)
    worker = group.start()

    async def started() -> bool:
        run = await latest_run(sessions)
        return run is not None and run.records_done >= 200

    await until(started, 60, "the ingest to be under way")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, group.output()
    run = await latest_run(sessions)
    assert run is not None and run.status == "queued", run.status if run else None
    assert "interrupted" in (run.error or "")
    group.burst()
    final = await latest_run(sessions)
    assert final is not None and final.status == "complete", group.output()
    assert final.inserted == tenders and final.error is None
    state = await table_state(fault_db)
    assert state["rows"] == state["distinct"] == tenders


async def test_a_job_that_keeps_failing_stops_at_its_retry_limit(
    servers: Servers,
    fault_db: AsyncEngine,
    fresh_database_url: str,
    workers: Callable[[dict[str, str]], Workers],
) -> None:
    with serve({"/feed.json": Route(b"down for maintenance", status=502)}) as publisher:
        env = worker_env(
            fresh_database_url, servers.redis_url, WORKER_MAX_TRIES="3", WORKER_RETRY_BACKOFF="1.2"
        )
        await _enqueue(env, publisher.base_url + "/feed.json")
        group = workers(env)
        group.burst(timeout=60)
    assert len(publisher.requests) == 3
    run = await latest_run(create_session_factory(fault_db))
    assert run is not None and run.status == "failed" and run.attempts == 3
    assert "502" in (run.error or "")
    runs = subprocess.run(
        [sys.executable, "-m", "src.cli", "runs", "--format", "jsonl"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    first = orjson.loads(runs.stdout.splitlines()[0])
    assert first["status"] == "failed" and "502" in first["error"]
