"""Attempts are counted on the run (and chunk) row, whoever starts them: arq's retries, the
sweeper, a restarted worker. A timeout is a failed attempt, and at WORKER_MAX_TRIES a run or
chunk that keeps timing out or dying fails, "gave up after N attempts"."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from arq import Retry
from arq.connections import ArqRedis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import IngestChunk, IngestRun
from src.infra.queue import ingest_job_id, job_in_redis
from src.ingest.chunked import enqueue_lost_chunks
from src.ingest.deps import Attempt
from src.ingest.outcome import JobTimedOut, settle_failure
from src.ingest.schedule import sweep_lost_runs
from tests.support.http_server import Route, serve
from tests.support.jobs import ingest_source, job_ctx, run_chunks, with_settings
from tests.support.sources import anac_source

LONG_AGO = datetime.now(UTC) - timedelta(hours=1)


async def _run(db_session: AsyncSession, run_id: str | uuid.UUID) -> IngestRun:
    run = await db_session.get(IngestRun, uuid.UUID(str(run_id)))
    assert run is not None
    await db_session.refresh(run)
    return run


async def test_a_timed_out_attempt_is_retried_then_the_run_gives_up(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    """A publisher that never answers: each attempt stops at WORKER_JOB_TIMEOUT as a failed
    attempt (not as a shutdown, which would run it again forever)."""
    deps = with_settings(ctx, worker_job_timeout=1, worker_max_tries=2)
    with serve({"/feed.json": Route(b"{}", hang=threading.Event())}) as publisher:
        url, run_id = publisher.base_url + "/feed.json", str(uuid.uuid4())
        with pytest.raises(Retry):
            await ingest_source(ctx, url, run_id=run_id)
        first = await _run(db_session, run_id)
        assert (first.status, first.attempts) == ("queued", 1)
        assert first.error == "retrying after: timed out after 1 s (WORKER_JOB_TIMEOUT)"
        with pytest.raises(JobTimedOut):
            await ingest_source(job_ctx(deps, job_try=2), url, run_id=run_id)
    run = await _run(db_session, run_id)
    assert (run.status, run.attempts) == ("failed", 2)
    assert run.error == "gave up after 2 attempts: timed out after 1 s (WORKER_JOB_TIMEOUT)"
    assert len(publisher.requests) == 2


async def test_a_run_whose_worker_died_at_its_last_attempt_is_not_started_again(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    """arq runs a killed worker's job again; with its attempts spent, the job fails the run
    instead of reading the source once more."""
    with_settings(ctx, worker_max_tries=2)
    source = tmp_path / "s.jsonl"
    anac_source(source, 2)
    dead = IngestRun(source=str(source), status="running", attempts=2, heartbeat_at=LONG_AGO)
    db_session.add(dead)
    await db_session.flush()
    summary = await ingest_source(ctx, str(source), run_id=str(dead.id))
    assert (summary["status"], summary["inserted"]) == ("failed", 0)
    run = await _run(db_session, dead.id)
    assert (run.status, run.attempts) == ("failed", 2)
    assert run.error == "gave up after 2 attempts: worker died"


async def test_the_sweeper_fails_lost_runs_whose_attempts_are_spent(
    ctx: dict[str, Any], db_session: AsyncSession, queue: ArqRedis
) -> None:
    with_settings(ctx, worker_max_tries=2)

    def lost(name: str, **fields: Any) -> IngestRun:
        job_id = ingest_job_id(queue.default_queue_name, f"/data/{name}", None)
        return IngestRun(source=f"/data/{name}", job_id=job_id, queued_at=LONG_AGO, **fields)

    died = lost("died", status="running", attempts=2, heartbeat_at=LONG_AGO)
    note = "retrying after: interrupted by a worker shutdown"
    cut = lost("cut", status="queued", attempts=2, error=note)
    again = lost("again", status="running", attempts=1, heartbeat_at=LONG_AGO)
    split = lost("split", status="running", attempts=2, heartbeat_at=LONG_AGO, chunks_total=3)
    db_session.add_all([died, cut, again, split])
    await db_session.flush()
    requeued = await sweep_lost_runs(ctx["deps"])
    assert sorted(requeued) == sorted([str(again.id), str(split.id)])
    assert not await job_in_redis(queue, died.job_id or "")
    assert (await _run(db_session, died.id)).error == "gave up after 2 attempts: worker died"
    failed = await _run(db_session, cut.id)
    assert (failed.status, failed.error) == (
        "failed",
        "gave up after 2 attempts: interrupted by a worker shutdown",
    )


async def _split(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> tuple[uuid.UUID, list[IngestChunk]]:
    source = tmp_path / "big.jsonl"
    anac_source(source, 20)
    with_settings(ctx, chunk_min_bytes=1, chunk_bytes=4096, worker_max_tries=2)
    run_id = uuid.uuid4()
    assert (await ingest_source(ctx, str(source), run_id=str(run_id)))["status"] == "split"
    query = select(IngestChunk).where(IngestChunk.run_id == run_id)
    return run_id, list(await db_session.scalars(query.order_by(IngestChunk.index)))


async def test_chunks_count_their_attempts_and_give_up(
    ctx: dict[str, Any], db_session: AsyncSession, queue: ArqRedis, tmp_path: Path
) -> None:
    """A chunk taken again after its worker died at its last attempt fails (the job of a
    lost one is not enqueued again); the others complete; the run fails with its chunk."""
    run_id, chunks = await _split(ctx, db_session, tmp_path)
    first, second = chunks[0], chunks[1]
    await db_session.execute(
        update(IngestChunk)
        .where(IngestChunk.id.in_([first.id, second.id]))
        .values(status="running", attempts=2)
    )
    await queue.delete(f"arq:job:{second.job_id}")
    await enqueue_lost_chunks(ctx["deps"], await _run(db_session, run_id))
    assert not await job_in_redis(queue, second.job_id)
    outcomes = {r["index"]: r["status"] for r in await run_chunks(ctx, run_id)}
    assert outcomes[0] == "failed" and set(outcomes.values()) == {"failed", "complete"}
    for chunk in (first, second):
        await db_session.refresh(chunk)
        assert (chunk.status, chunk.error) == ("failed", "gave up after 2 attempts: worker died")
    for chunk in chunks[2:]:
        await db_session.refresh(chunk)
        assert (chunk.status, chunk.attempts) == ("complete", 1)
    run = await _run(db_session, run_id)
    assert run.status == "failed" and run.chunks_done == run.chunks_total
    assert run.error is not None and "gave up after 2 attempts: worker died" in run.error


async def test_a_chunk_that_times_out_is_retried_then_gives_up(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    run_id, chunks = await _split(ctx, db_session, tmp_path)
    chunk = chunks[0]
    await db_session.execute(
        update(IngestChunk).where(IngestChunk.id == chunk.id).values(status="running", attempts=1)
    )

    async def settle() -> float | None:
        return await settle_failure(
            ctx["deps"],
            JobTimedOut(1),
            run_id=run_id,
            attempt=Attempt(chunk.job_id),
            chunk_id=chunk.id,
        )

    assert await settle() is not None
    await db_session.refresh(chunk)
    assert (chunk.status, chunk.error) == (
        "queued",
        "retrying after: timed out after 1 s (WORKER_JOB_TIMEOUT)",
    )
    await db_session.execute(
        update(IngestChunk).where(IngestChunk.id == chunk.id).values(status="running", attempts=2)
    )
    assert await settle() is None
    await db_session.refresh(chunk)
    assert (chunk.status, chunk.error) == (
        "failed",
        "gave up after 2 attempts: timed out after 1 s (WORKER_JOB_TIMEOUT)",
    )
