"""Faults inflicted on real worker processes: SIGKILL and SIGTERM in the middle of a large
ingest, a job that keeps failing. Each ends with the table a clean run would leave."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from configs.config import Settings
from src.domain.runs.entities import IngestRun
from src.infra.database import create_engine, create_session_factory
from tests.support.db import enqueue_sources, latest_run, table_state
from tests.support.http_server import Route, serve
from tests.support.paths import ROOT
from tests.support.polling import until
from tests.support.processes import Workers, worker_env
from tests.support.servers import Servers
from tests.support.sources import anac_source

pytestmark = pytest.mark.slow


async def _clean_state(
    servers: Servers, url: str, source: Path, workers: Callable[[dict[str, str]], Workers]
) -> dict[str, object]:
    """The same source ingested once, undisturbed, into a database of its own."""
    env = worker_env(url, servers.redis_url)
    await enqueue_sources(env, str(source))
    workers(env).burst()
    engine = create_engine(Settings(database_url=url))
    try:
        return await table_state(engine)
    finally:
        await engine.dispose()


@dataclass
class UnderWay:
    source: Path
    tenders: int
    sessions: async_sessionmaker[AsyncSession]
    group: Workers
    worker: subprocess.Popen[bytes]


async def _large_ingest_under_way(
    servers: Servers,
    engine: AsyncEngine,
    url: str,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> UnderWay:
    """A worker in the middle of a 6,000-tender ingest, with some batches committed."""
    source = tmp_path / "large.jsonl"
    tenders = anac_source(source, 3000)
    env = worker_env(url, servers.redis_url, INGEST_BATCH_SIZE="50")
    sessions = create_session_factory(engine)
    await enqueue_sources(env, str(source))
    group = workers(env)
    worker = group.start()

    async def some_batches_committed() -> bool:
        run = await latest_run(sessions)
        return run is not None and run.records_done >= 300

    await until(some_batches_committed, 60, "the first batches")
    return UnderWay(source, tenders, sessions, group, worker)


async def _completed(under_way: UnderWay, engine: AsyncEngine) -> dict[str, object]:
    async def complete() -> bool:
        run = await latest_run(under_way.sessions)
        return run is not None and run.status == "complete"

    await until(complete, 120, "the run to complete")
    final = await latest_run(under_way.sessions)
    assert final is not None and final.error is None
    assert (final.inserted, final.rejected) == (under_way.tenders, 0)
    state = await table_state(engine)
    assert state["rows"] == state["distinct"] == under_way.tenders
    assert state["changes"] == 0, "no spurious history"
    return state


async def test_sigkill_mid_ingest_recovers_in_seconds_with_the_clean_result(
    servers: Servers,
    fault_db: AsyncEngine,
    fresh_database_url: str,
    second_database_url: str,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    under_way = await _large_ingest_under_way(
        servers, fault_db, fresh_database_url, workers, tmp_path
    )
    under_way.worker.send_signal(signal.SIGKILL)
    under_way.worker.wait(timeout=10)
    killed_at = time.monotonic()
    run = await latest_run(under_way.sessions)
    assert run is not None and run.status == "running" and run.records_done < under_way.tenders

    under_way.group.start()  # arq runs the job again once its in-progress key expires

    async def restarted() -> bool:
        current = await latest_run(under_way.sessions)
        return current is not None and current.attempts >= 2

    await until(restarted, 60, "the job to start again")
    recovery = time.monotonic() - killed_at
    state = await _completed(under_way, fault_db)
    clean = await _clean_state(servers, second_database_url, under_way.source, workers)
    assert state == clean, "the table equals a clean single run"
    print(f"\nrecovery after SIGKILL: {recovery:.1f} s (keep-alive 5 s)")
    assert recovery < 30


async def test_sigterm_requeues_the_job_which_completes_later(
    servers: Servers,
    fault_db: AsyncEngine,
    fresh_database_url: str,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    under_way = await _large_ingest_under_way(
        servers, fault_db, fresh_database_url, workers, tmp_path
    )
    under_way.worker.send_signal(signal.SIGTERM)
    assert under_way.worker.wait(timeout=30) == 0, under_way.group.output()
    run = await latest_run(under_way.sessions)
    assert run is not None and run.status == "queued", run.status if run else None
    assert "interrupted" in (run.error or "")
    under_way.group.burst()
    await _completed(under_way, fault_db)


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
        await enqueue_sources(env, publisher.base_url + "/feed.json")
        group = workers(env)
        group.burst(timeout=60, failed=True)
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


EVERY_SECOND = "[" + ",".join(str(second) for second in range(60)) + "]"


async def test_a_job_that_always_times_out_fails_at_its_attempt_limit(
    servers: Servers,
    fault_db: AsyncEngine,
    fresh_database_url: str,
    workers: Callable[[dict[str, str]], Workers],
) -> None:
    """A publisher that never answers and a tiny WORKER_JOB_TIMEOUT: each attempt is a
    failed attempt (it used to go back to the queue as if the worker had shut down, and the
    sweeper ran it again forever: 48 attempts in 150 s with WORKER_MAX_TRIES=2)."""
    with serve({"/feed.json": Route(b"{}", hang=threading.Event())}) as publisher:
        env = worker_env(
            fresh_database_url,
            servers.redis_url,
            WORKER_JOB_TIMEOUT="1",
            WORKER_MAX_TRIES="2",
            WORKER_RETRY_BACKOFF="1.2",
        )
        await enqueue_sources(env, publisher.base_url + "/feed.json")
        workers(env).burst(timeout=120, failed=True)
    run = await latest_run(create_session_factory(fault_db))
    assert run is not None and (run.status, run.attempts) == ("failed", 2)
    assert run.error == "gave up after 2 attempts: timed out after 1 s (WORKER_JOB_TIMEOUT)"
    assert len(publisher.requests) == 2


async def test_a_job_whose_worker_is_killed_at_each_start_fails_at_its_attempt_limit(
    servers: Servers,
    fault_db: AsyncEngine,
    fresh_database_url: str,
    workers: Callable[[dict[str, str]], Workers],
) -> None:
    """Each attempt's worker is SIGKILLed as soon as the attempt has started: arq runs the
    job again until its own count is spent, then the sweeper finds the run (running, no
    heartbeat, no job) and fails it instead of enqueuing it again (it used to: 21 kills,
    21 attempts in 150 s with WORKER_MAX_TRIES=2)."""
    sessions = create_session_factory(fault_db)
    with serve({"/feed.json": Route(b"{}", hang=threading.Event())}) as publisher:
        env = worker_env(
            fresh_database_url,
            servers.redis_url,
            WORKER_MAX_TRIES="2",
            STALLED_RUN_AFTER="2",
            SWEEP_QUEUED_AFTER="1",
            CRON_SECONDS=EVERY_SECOND,
        )
        [enqueued] = await enqueue_sources(env, publisher.base_url + "/feed.json")
        group = workers(env)
        kills = 0

        async def next_attempt_or_failure() -> IngestRun | None:
            run = await latest_run(sessions)
            if run is not None and (run.status == "failed" or run.attempts > kills):
                return run
            return None

        while True:
            worker = group.start()
            run = await until(next_attempt_or_failure, 90, f"attempt {kills + 1} or a failure")
            assert run is not None
            if run.status == "failed":
                break
            assert kills < 2, f"attempt {run.attempts} started: {group.output()}"
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            kills += 1
    assert (kills, run.id, run.attempts) == (2, enqueued.run_id, 2)
    assert run.error == "gave up after 2 attempts: worker died"
