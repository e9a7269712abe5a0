"""Sources over HTTP: the limits count every byte (HTTP_MAX_BYTES on the wire, what a
Content-Encoding inflates to within MAX_DECOMPRESSED_BYTES); a server that answers nothing
usable fails its run with a message; Retry-After is capped; a silent server is dropped."""

from __future__ import annotations

import gzip
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arq import Retry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.domain.runs.entities import Feed, IngestRun
from src.domain.runs.services import FeedService
from src.infra.sources import SourceError
from src.infra.streams import SizeLimitExceededError
from tests.support.http_server import Route, serve
from tests.support.jobs import fetching, ingest_source, with_settings
from tests.support.paths import FIXTURES

PACKAGE = FIXTURES / "ocds" / "anac_two_procedures.json"
GZIP = {"Content-Encoding": "gzip"}


async def failed_with(session: AsyncSession, run_id: str) -> str:
    run = await session.get(IngestRun, uuid.UUID(run_id))
    assert run is not None and run.status == "failed", run
    return run.error or ""


async def test_http_max_bytes_counts_the_bytes_on_the_wire(ctx: dict[str, Any]) -> None:
    body = gzip.compress(PACKAGE.read_bytes())
    limit = len(body) + 100
    assert limit < PACKAGE.stat().st_size, "the limit lies between the wire and the inflated"
    with serve({"/feed.json": Route(body, headers=GZIP)}) as publisher:
        with_settings(ctx, http_max_bytes=limit)
        summary = await ingest_source(ctx, publisher.base_url + "/feed.json")
    assert (summary["status"], summary["inserted"]) == ("complete", 3)


async def test_a_content_encoding_inflates_within_max_decompressed_bytes(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    """A small gzip-encoded body of 4 MiB of JSON whitespace, with 1 MiB to inflate to."""
    body = gzip.compress(b"[" + b" " * (4 * 1024**2) + b"]")
    run_id = str(uuid.uuid4())
    with serve({"/feed.json": Route(body, headers=GZIP)}) as publisher:
        with_settings(ctx, max_decompressed_bytes=1024**2)
        with pytest.raises(SizeLimitExceededError, match="MAX_DECOMPRESSED_BYTES"):
            await ingest_source(ctx, publisher.base_url + "/feed.json", run_id=run_id)
    assert "MAX_DECOMPRESSED_BYTES" in await failed_with(db_session, run_id)


async def test_a_gzip_file_sent_gzip_encoded_is_inflated_twice(ctx: dict[str, Any]) -> None:
    body = gzip.compress(gzip.compress(PACKAGE.read_bytes()))
    with serve({"/feed.json.gz": Route(body, headers=GZIP)}) as publisher:
        summary = await ingest_source(ctx, publisher.base_url + "/feed.json.gz")
    assert summary["inserted"] == 3


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (Route(b"", status=304), "304 Not Modified to a request without validators"),
        (
            Route(
                b"<!DOCTYPE html><html><body>Login</body></html>",
                headers={"Content-Type": "text/html; charset=utf-8"},
            ),
            r"an HTML page \(text/html\), not a publication",
        ),
        (
            Route(b"x", headers={"Content-Encoding": "br"}),
            "Content-Encoding 'br', which is not read",
        ),
    ],
)
async def test_an_answer_with_nothing_to_read_fails_the_run(
    ctx: dict[str, Any], db_session: AsyncSession, route: Route, message: str
) -> None:
    run_id = str(uuid.uuid4())
    with serve({"/feed.json": route}) as publisher, pytest.raises(SourceError, match=message):
        await ingest_source(ctx, publisher.base_url + "/feed.json", run_id=run_id)
    assert "feed.json" in await failed_with(db_session, run_id)


@pytest.mark.parametrize("header", ["9" * 40, "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_retry_after_is_capped(
    ctx: dict[str, Any],
    db_session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    header: str,
) -> None:
    routes = {"/busy": Route(b"", status=429, headers={"Retry-After": header})}
    with serve(routes) as publisher:
        url = publisher.base_url + "/busy"
        async with session_factory() as session, session.begin():
            feed = await FeedService.add(session, source=url, format="ocds", interval_seconds=60)
        summary = await ingest_source(ctx, url, feed_id=str(feed.id))
    assert summary["status"] == "failed"
    stored = await db_session.get(Feed, feed.id)
    assert stored is not None and stored.not_before is not None
    day = timedelta(seconds=ctx["deps"].settings.retry_after_max_seconds)
    assert stored.not_before <= datetime.now(UTC) + day, "at most RETRY_AFTER_MAX_SECONDS"
    assert stored.not_before > datetime.now(UTC) + day - timedelta(hours=1)


async def test_a_server_that_stops_sending_is_dropped_and_retried(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    stall = threading.Event()
    run_id = str(uuid.uuid4())
    with serve({"/slow.json": Route(b'{"releases": [', stall=stall)}) as publisher:
        try:
            async with fetching(ctx, http_read_timeout=0.2):
                with pytest.raises(Retry):
                    await ingest_source(ctx, publisher.base_url + "/slow.json", run_id=run_id)
        finally:
            stall.set()
    run = await db_session.get(IngestRun, uuid.UUID(run_id))
    assert run is not None and run.status == "queued"
    assert run.error is not None and "sent nothing for 0.2 s (HTTP_READ_TIMEOUT)" in run.error
