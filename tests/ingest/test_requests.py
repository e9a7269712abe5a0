"""One ingest request travels whole: from whoever enqueues it, through the run row and the
queue, to the worker and back through the sweeper, field for field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.domain.formats import Format
from src.domain.runs.entities import IngestChunk, IngestRun
from src.domain.runs.request import IngestRequest
from src.infra.source_policy import SourceNotAllowed
from src.ingest.enqueue import enqueue_ingest
from src.ingest.schedule import sweep_lost_runs
from tests.support.jobs import ingest_source, with_settings
from tests.support.sources import anac_source
from workers.context import WorkerDeps

FULL = IngestRequest(
    "/data/anac/2025-01.csv",
    format=Format.ANAC_CSV,
    encoding="cp1252",
    feed_id=uuid.uuid4(),
    restricted=True,
    submitted_by="ci",
)


def test_a_request_survives_its_job_payload() -> None:
    assert IngestRequest.from_job(FULL.to_job()) == FULL
    plain = IngestRequest("https://example.org/feed.json")
    assert IngestRequest.from_job(plain.to_job()) == plain


def test_a_payload_from_an_older_release_is_read() -> None:
    run_id = uuid.uuid4()
    legacy = {"source": "/data/x.json", "format": "ocds", "run_id": str(run_id)}
    assert IngestRequest.from_job(legacy) == IngestRequest(
        "/data/x.json", format=Format.OCDS, run_id=run_id
    )
    with pytest.raises(ValueError, match="unknown format 'pdf'"):
        IngestRequest.from_job({"location": "/x", "format": "pdf"})
    with pytest.raises(ValueError, match="without a location"):
        IngestRequest.from_job({"format": "ocds"})


async def _queued_payload(queue: ArqRedis, job_id: str) -> dict[str, Any]:
    jobs = [job for job in await queue.queued_jobs() if job.job_id == job_id]
    assert len(jobs) == 1
    return jobs[0].kwargs


async def test_the_sweeper_requeues_the_request_field_for_field(
    deps: WorkerDeps,
    queue: ArqRedis,
    session_factory: async_sessionmaker[AsyncSession],
    db_session: AsyncSession,
) -> None:
    enqueued = await enqueue_ingest(queue, session_factory, FULL)
    assert enqueued.created and enqueued.run_id == FULL.run_id
    original = await _queued_payload(queue, enqueued.job_id)
    run = await db_session.get(IngestRun, FULL.run_id)
    assert run is not None
    await db_session.refresh(run)
    assert run.request() == FULL, "the run row holds every field of the request"
    # Redis loses the job (a restart: it keeps nothing on disk).
    await queue.delete(job_key_prefix + enqueued.job_id)
    await queue.zrem(queue.default_queue_name, enqueued.job_id)
    await db_session.execute(
        update(IngestRun)
        .where(IngestRun.id == FULL.run_id)
        .values(queued_at=datetime.now(UTC) - timedelta(minutes=10))
    )
    await db_session.flush()
    assert await sweep_lost_runs(deps) == [str(FULL.run_id)]
    requeued = await _queued_payload(queue, enqueued.job_id)
    assert requeued == original
    assert IngestRequest.from_job(requeued) == FULL


async def test_a_restricted_source_is_checked_before_it_is_split(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    """A file the source policy refuses is never split into chunks (nor read)."""
    big = tmp_path / "big.jsonl"
    anac_source(big, 50)
    with_settings(ctx, chunk_min_bytes=1, chunk_bytes=1024, allowed_source_dirs=[])
    run_id = str(uuid.uuid4())
    with pytest.raises(SourceNotAllowed, match="ALLOWED_SOURCE_DIRS"):
        await ingest_source(ctx, str(big), run_id=run_id, restricted=True)
    run = await db_session.get(IngestRun, uuid.UUID(run_id))
    assert run is not None and run.status == "failed" and run.chunks_total == 0
    chunks = select(func.count()).select_from(IngestChunk).where(IngestChunk.run_id == run.id)
    assert await db_session.scalar(chunks) == 0
    # The same file from the operator (not restricted) is split.
    summary = await ingest_source(ctx, str(big))
    assert summary["status"] == "split" and summary["chunks"] > 1
