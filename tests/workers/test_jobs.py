"""Job functions called directly, with a built context, on the test's rolled-back transaction."""

from __future__ import annotations

import dataclasses
import gzip
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from arq import Retry
from arq.connections import ArqRedis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import Feed, IngestRun, Rejection
from src.domain.runs.services import FeedService
from src.domain.tender.entities import Tender
from src.infra.queue import ingest_job_id, job_in_redis
from src.infra.source_policy import SourceNotAllowed
from src.infra.sources import SourceError
from src.ingest.pipeline import UnreadableSourceError
from src.ingest.schedule import enqueue_due_feeds, sweep_lost_runs
from tests.support.http_server import Route, serve
from tests.support.jobs import ingest_source, with_settings
from tests.support.paths import FIXTURES

PACKAGE = FIXTURES / "ocds" / "anac_two_procedures.json"


async def tender_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Tender)) or 0)


async def test_ingest_a_file_twice(ctx: dict[str, Any], db_session: AsyncSession) -> None:
    first = await ingest_source(ctx, str(PACKAGE))
    assert (first["status"], first["inserted"], first["rejected"]) == ("complete", 3, 1)
    second = await ingest_source(ctx, PACKAGE.as_uri())
    assert (second["inserted"], second["updated"], second["unchanged"]) == (0, 0, 3)
    assert await tender_count(db_session) == 3
    run = await db_session.get(IngestRun, uuid.UUID(first["run_id"]))
    assert run is not None and run.status == "complete" and run.finished_at is not None
    reasons = (await db_session.scalars(select(Rejection.reason))).all()
    assert len(reasons) == 2 and all("NOT-A-CIG" in r for r in reasons)


async def test_ingest_gzip_in_small_batches(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Any
) -> None:
    compressed = tmp_path / "package.json.gz"
    compressed.write_bytes(gzip.compress(PACKAGE.read_bytes()))
    with_settings(ctx, ingest_batch_size=1)
    summary = await ingest_source(ctx, str(compressed))
    assert summary["inserted"] == 3
    run = await db_session.get(IngestRun, uuid.UUID(summary["run_id"]))
    assert run is not None and run.records_done == 4


async def test_a_source_that_cannot_be_read_fails_its_run(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Any
) -> None:
    missing = str(tmp_path / "nope.json")
    run_id = str(uuid.uuid4())
    with pytest.raises(SourceError, match="no such file"):
        await ingest_source(ctx, missing, run_id=run_id)
    run = await db_session.get(IngestRun, uuid.UUID(run_id))
    assert run is not None and run.status == "failed"
    assert run.error is not None and "no such file" in run.error
    not_ocds = tmp_path / "x.json"
    not_ocds.write_text('{"hello": 1}')
    with pytest.raises(UnreadableSourceError, match="not OCDS"):
        await ingest_source(ctx, str(not_ocds))


async def test_truncated_source_keeps_the_good_records(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Any
) -> None:
    data = PACKAGE.read_bytes()
    cut = tmp_path / "cut.json"
    cut.write_bytes(data[: data.index(b'"ocid": "ocds-hu01ve-1000002"')])
    summary = await ingest_source(ctx, str(cut))
    assert (summary["status"], summary["inserted"], summary["rejected"]) == ("complete", 2, 2)
    reasons = (await db_session.scalars(select(Rejection.reason))).all()
    assert any("could not be read" in r and "truncated" in r for r in reasons)


async def test_transient_errors_are_retried(ctx: dict[str, Any]) -> None:
    with serve({}) as publisher:
        deps = ctx["deps"]
        ctx["deps"] = dataclasses.replace(
            deps, http=httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(retries=0))
        )
        # A closed port: connection refused is transient.
        url = publisher.base_url.replace(publisher.base_url.rsplit(":", 1)[1], "9")
        with pytest.raises(Retry):
            await ingest_source(ctx, url + "/feed.json")
        await ctx["deps"].http.aclose()


async def test_http_feed_uses_conditional_requests(
    ctx: dict[str, Any], db_session: AsyncSession, session_factory: Any
) -> None:
    routes = {"/feed.json": Route(PACKAGE.read_bytes(), etag='"v1"')}
    with serve(routes) as publisher:
        url = publisher.base_url + "/feed.json"
        async with session_factory() as session, session.begin():
            feed = await FeedService.add(session, source=url, format="ocds", interval_seconds=3600)
        first = await ingest_source(ctx, url, format="ocds", feed_id=str(feed.id))
        second = await ingest_source(ctx, url, format="ocds", feed_id=str(feed.id))
    assert first["inserted"] == 3
    assert (second["status"], second["inserted"], second["unchanged"]) == ("complete", 0, 0)
    assert publisher.requests[1][1].get("If-None-Match") == '"v1"'
    stored = await db_session.get(Feed, feed.id)
    assert stored is not None and stored.etag == '"v1"'


async def test_retry_after_holds_the_feed_back(
    ctx: dict[str, Any], db_session: AsyncSession, session_factory: Any
) -> None:
    routes = {"/busy": Route(b"", status=429, headers={"Retry-After": "120"})}
    with serve(routes) as publisher:
        url = publisher.base_url + "/busy"
        async with session_factory() as session, session.begin():
            feed = await FeedService.add(session, source=url, format="ocds", interval_seconds=3600)
        summary = await ingest_source(ctx, url, feed_id=str(feed.id))
    assert summary["status"] == "failed"
    stored = await db_session.get(Feed, feed.id)
    assert stored is not None and stored.not_before is not None
    assert stored.not_before > datetime.now(UTC)


async def test_cron_enqueues_exactly_the_due_feeds(
    ctx: dict[str, Any], db_session: AsyncSession, queue: ArqRedis
) -> None:
    now = datetime.now(UTC)
    db_session.add_all(
        [
            Feed(source="https://example.invalid/due.json", interval_seconds=3600),
            Feed(
                source="https://example.invalid/overdue.json",
                interval_seconds=60,
                last_enqueued_at=now - timedelta(minutes=5),
            ),
            Feed(
                source="https://example.invalid/recent.json",
                interval_seconds=3600,
                last_enqueued_at=now - timedelta(minutes=5),
            ),
            Feed(source="https://example.invalid/off.json", interval_seconds=60, enabled=False),
            Feed(
                source="https://example.invalid/later.json",
                interval_seconds=60,
                not_before=now + timedelta(hours=1),
            ),
        ]
    )
    await db_session.flush()
    enqueued = await enqueue_due_feeds(ctx["deps"])
    assert sorted(enqueued) == [
        "https://example.invalid/due.json",
        "https://example.invalid/overdue.json",
    ]
    jobs = await queue.queued_jobs(queue_name=ctx["deps"].settings.queue_name)
    assert sorted(job.kwargs["location"] for job in jobs) == sorted(enqueued)
    assert all(job.kwargs["restricted"] for job in jobs)
    assert await enqueue_due_feeds(ctx["deps"]) == []


async def test_sweeper_requeues_runs_that_redis_lost(
    ctx: dict[str, Any], db_session: AsyncSession, queue: ArqRedis
) -> None:
    old = datetime.now(UTC) - timedelta(minutes=10)
    lost = IngestRun(
        source="/data/lost.json",
        job_id=ingest_job_id(queue.default_queue_name, "/data/lost.json", None),
        status="queued",
        queued_at=old,
    )
    stalled = IngestRun(
        source="/data/stalled.json",
        status="running",
        queued_at=old,
        job_id=ingest_job_id(queue.default_queue_name, "/data/stalled.json", None),
        heartbeat_at=old,
    )
    fresh = IngestRun(source="/data/fresh.json", job_id="fresh", status="queued")
    db_session.add_all([lost, stalled, fresh])
    await db_session.flush()
    requeued = await sweep_lost_runs(ctx["deps"])
    assert sorted(requeued) == sorted([str(lost.id), str(stalled.id)])
    assert await job_in_redis(queue, lost.job_id or "")
    assert await sweep_lost_runs(ctx["deps"]) == []


async def test_restricted_sources_are_checked_when_fetched(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Any
) -> None:
    """Sources named by the API or a feed: loopback hosts and files outside the allowed
    directories are refused at fetch time, redirects included."""
    with serve({"/feed.json": Route(PACKAGE.read_bytes())}) as publisher:
        with pytest.raises(SourceNotAllowed, match="loopback"):
            await ingest_source(ctx, publisher.base_url + "/feed.json", restricted=True)
        with pytest.raises(SourceNotAllowed, match="loopback"):
            await ctx["deps"].http_restricted.get(publisher.base_url + "/feed.json")
        assert len(publisher.requests) == 0, "nothing was fetched"
    with pytest.raises(SourceNotAllowed, match="ALLOWED_SOURCE_DIRS"):
        await ingest_source(ctx, str(PACKAGE), restricted=True)
    with_settings(ctx, allowed_source_dirs=[PACKAGE.parent])
    refused = await ingest_source(ctx, str(PACKAGE), restricted=True)
    assert (refused["inserted"], refused["rejected"]) == (0, 4), "ANAC's data, not trusted"
    with_settings(ctx, trusted_sources=[str(PACKAGE.parent)])
    summary = await ingest_source(ctx, str(PACKAGE), restricted=True)
    assert summary["inserted"] == 3
