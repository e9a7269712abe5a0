"""PostgreSQL and Redis restarted under a working worker: private servers, real processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from configs.config import Settings
from src.domain.runs.entities import IngestRun
from src.domain.runs.request import IngestRequest
from src.domain.tender.entities import Tender
from src.infra.database import create_engine, create_session_factory
from src.infra.database.migrate import upgrade
from src.infra.queue import create_queue_pool
from src.ingest.enqueue import enqueue_ingest
from tests.support.db import enqueue_sources, table_state
from tests.support.polling import until
from tests.support.processes import Workers, worker_env, worker_polls
from tests.support.servers import PrivatePostgres, PrivateRedis, Servers
from tests.support.sources import anac_source

pytestmark = pytest.mark.slow


async def test_postgres_restart_during_an_ingest(
    servers: Servers,
    private_postgres: PrivatePostgres,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    url = private_postgres.start()
    engine = create_engine(Settings(database_url=url))
    await upgrade(engine)
    source = tmp_path / "large.jsonl"
    tenders = anac_source(source, 3000)
    env = worker_env(url, servers.redis_url, INGEST_BATCH_SIZE="50", WORKER_MAX_TRIES="8")
    settings = Settings(database_url=url, redis_url=servers.redis_url, queue_name=env["QUEUE_NAME"])
    pool = await create_queue_pool(settings)
    sessions = create_session_factory(engine)
    try:
        queued = await enqueue_ingest(pool, sessions, IngestRequest(str(source)))
        group = workers(env)
        group.start()

        async def progress() -> int:
            async with sessions() as session:
                run = await session.get(IngestRun, queued.run_id)
                return run.records_done if run and run.records_done >= 300 else 0

        await until(progress, 60, "the first batches")
        await asyncio.to_thread(private_postgres.restart)
        await engine.dispose()  # our own pooled connections died with the server

        async def complete() -> bool:
            async with sessions() as session:
                run = await session.get(IngestRun, queued.run_id)
                return run is not None and run.status == "complete"

        await until(complete, 120, "the run to complete after the restart")
        async with sessions() as session:
            run = await session.get(IngestRun, queued.run_id)
            assert run is not None
            assert run.attempts >= 2, "the job was retried after the restart"
            assert run.inserted == tenders
        state = await table_state(engine)
        assert state["rows"] == state["distinct"] == tenders and state["changes"] == 0
        # The worker's idle pooled connections came back (pre-ping): it keeps working.
        second = tmp_path / "second.jsonl"
        anac_source(second, 10, first=5000)
        await enqueue_ingest(pool, sessions, IngestRequest(str(second)))

        async def second_done() -> bool:
            async with sessions() as session:
                return await session.scalar(select(func.count()).select_from(Tender)) == (
                    tenders + 20
                )

        await until(second_done, 60, "an ingest after the restart")
    finally:
        await pool.aclose()
        await engine.dispose()


async def test_redis_restart_idle_and_mid_job(
    fresh_database_url: str,
    private_redis: PrivateRedis,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    env = worker_env(
        fresh_database_url,
        private_redis.url,
        INGEST_BATCH_SIZE="50",
        CRON_SECONDS="[0,5,10,15,20,25,30,35,40,45,50,55]",
        SWEEP_QUEUED_AFTER="1",
    )
    settings = Settings(
        database_url=fresh_database_url, redis_url=private_redis.url, queue_name=env["QUEUE_NAME"]
    )
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    group = workers(env)
    group.start()

    async def run_status(run_id: object) -> str | None:
        async with sessions() as session:
            run = await session.get(IngestRun, run_id)
            return run.status if run else None

    async def ingest(name: str, procedures: int, first: int) -> object:
        source = tmp_path / name
        anac_source(source, procedures, first=first)
        return (await enqueue_sources(env, str(source)))[0].run_id

    try:
        # 1. Restart while the worker is idle: jobs enqueued afterwards still run.
        await until(lambda: worker_polls(env), 60, "the worker to poll its queue")
        await asyncio.to_thread(private_redis.restart)
        after_idle = await ingest("after-idle.jsonl", 20, 0)

        async def done(run_id: object) -> bool:
            return await run_status(run_id) == "complete"

        await until(lambda: done(after_idle), 60, "a job enqueued after an idle restart")

        # 2. Restart while a job runs: PostgreSQL has the run; the job finishes or is swept.
        during = await ingest("during.jsonl", 2000, 1000)

        async def running() -> bool:
            async with sessions() as session:
                run = await session.get(IngestRun, during)
                return run is not None and run.records_done >= 200

        await until(running, 60, "the long job to be under way")
        await asyncio.to_thread(private_redis.restart)
        await until(lambda: done(during), 240, "the job that ran through a Redis restart")
        after_busy = await ingest("after-busy.jsonl", 20, 9000)
        await until(lambda: done(after_busy), 60, "a job enqueued after a busy restart")

        # 3. A queued run whose job Redis lost (restart before any worker took it) is
        # enqueued again by the sweeper, from PostgreSQL.
        for process in group.processes:
            process.kill()
            process.wait(timeout=10)
        lost = await ingest("lost.jsonl", 20, 20000)
        await asyncio.to_thread(private_redis.restart)

        async def sweepable() -> bool:  # queued for longer than SWEEP_QUEUED_AFTER (1 s)
            async with sessions() as session:
                old = IngestRun.queued_at < func.now() - timedelta(seconds=1)
                return bool(await session.scalar(select(old).where(IngestRun.id == lost)))

        await until(sweepable, 10, "the lost run to be old enough for the sweeper")
        group.start()
        await until(lambda: done(lost), 60, "the sweeper to re-enqueue a lost run")
        async with sessions() as session:
            total = await session.scalar(select(func.count()).select_from(Tender))
        assert total == 2 * (20 + 2000 + 20 + 20)
    finally:
        await engine.dispose()
        print("\n" + group.output()[-1500:])
