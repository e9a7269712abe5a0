"""The whole path on real processes: an arq client enqueues, a real worker process runs the
job, rows are in PostgreSQL."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import func, select

from configs.config import Settings
from src.domain.runs.request import IngestRequest
from src.domain.tender.entities import Tender
from src.infra.database import create_engine, create_session_factory
from src.infra.queue import create_queue_pool
from src.ingest.enqueue import enqueue_ingest
from tests.support.paths import FIXTURES
from tests.support.processes import run_cli

pytestmark = pytest.mark.slow


async def test_enqueued_job_runs_in_a_real_worker(env: dict[str, str]) -> None:
    settings = Settings(
        database_url=env["DATABASE_URL"], redis_url=env["REDIS_URL"], queue_name=env["QUEUE_NAME"]
    )
    engine = create_engine(settings)
    pool = await create_queue_pool(settings)
    try:
        source = str(FIXTURES / "ocds" / "anac_two_procedures.json")
        first = await enqueue_ingest(pool, create_session_factory(engine), IngestRequest(source))
        duplicate = await enqueue_ingest(
            pool, create_session_factory(engine), IngestRequest(source)
        )
        assert first.created and not duplicate.created, "one source is queued once at a time"
        worker = run_cli(env, "worker", "--burst")
        assert worker.returncode == 0, worker.stderr
        async with create_session_factory(engine)() as session:
            assert await session.scalar(select(func.count()).select_from(Tender)) == 3
        # keep_result=0: the same source can be queued again as soon as it is done.
        again = await enqueue_ingest(pool, create_session_factory(engine), IngestRequest(source))
        assert again.created
        assert run_cli(env, "worker", "--burst").returncode == 0
        runs = run_cli(env, "runs", "--format", "jsonl")
        rows = [orjson.loads(line) for line in runs.stdout.splitlines()]
        assert [(r["status"], r["inserted"], r["unchanged"], r["rejected"]) for r in rows] == [
            ("complete", 0, 3, 1),
            ("complete", 3, 0, 1),
        ]
        assert {"id", "source", "error", "started_at", "finished_at", "updated"} <= set(rows[0])
    finally:
        await pool.aclose()
        await engine.dispose()
