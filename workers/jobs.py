"""Job functions: thin. Parse the arguments, open the source, hand records to the domain."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from arq import Retry

from src.domain.ingest.entities import IngestRun
from src.domain.ingest.pipeline import ingest_items
from src.domain.ingest.services import FeedService, RunService
from src.infra.errors import describe, is_transient
from src.infra.readers.ocds import PackageInfo
from src.infra.readers.registry import read_source, resolve_pending
from src.infra.sources import SourceNotModified, SourceRetryLater, is_remote, open_source

log = logging.getLogger("tenders.jobs")


def backoff_seconds(job_try: int, base: float) -> float:
    return float(min(base ** max(job_try, 1), 300.0))


async def ingest_source(
    ctx: dict[str, Any],
    source: str,
    format: str | None = None,
    run_id: str | None = None,
    feed_id: str | None = None,
    encoding: str | None = None,
) -> dict[str, Any]:
    """Ingest one source into tenders; the run row says how it went. Transient faults are
    retried with backoff (arq retries only on Retry); anything else fails the run."""
    settings = ctx["settings"]
    session_factory = ctx["session_factory"]
    job_id = ctx.get("job_id")
    job_try = int(ctx.get("job_try", 1))
    run_uuid = uuid.UUID(run_id) if run_id else uuid.uuid4()
    feed_uuid = uuid.UUID(feed_id) if feed_id else None
    started = time.monotonic()
    run_log = logging.LoggerAdapter(log, {"run_id": str(run_uuid), "job_id": job_id})

    async with session_factory() as session, session.begin():
        run = await RunService.start(
            session,
            run_id=run_uuid,
            job_id=job_id,
            source=source,
            format=format,
            encoding=encoding,
            feed_id=feed_uuid,
        )
        feed = await FeedService.get(session, feed_uuid) if feed_uuid else None
        etag, last_modified = (feed.etag, feed.last_modified) if feed else (None, None)
    run_log.info("ingest %s started (try %d)", source, job_try)
    try:
        validators = await _ingest_pages(
            ctx,
            run,
            source,
            format_name=format,
            encoding=encoding,
            etag=etag,
            last_modified=last_modified,
        )
        async with session_factory() as session, session.begin():
            if feed_uuid is not None:
                await FeedService.remember_validators(
                    session, feed_uuid, etag=validators[0], last_modified=validators[1]
                )
            finished = await RunService.finish(session, run_uuid)
    except SourceNotModified:
        async with session_factory() as session, session.begin():
            finished = await RunService.finish(session, run_uuid)
        run_log.info("ingest %s: not modified since the last fetch", source)
    except SourceRetryLater as later:
        async with session_factory() as session, session.begin():
            if feed_uuid is not None:
                await FeedService.remember_validators(
                    session, feed_uuid, not_before=later.not_before
                )
            finished = await RunService.finish(session, run_uuid, error=str(later))
        run_log.warning("ingest %s: %s", source, later)
    except Exception as error:
        message = describe(error)
        if is_transient(error) and job_try < settings.worker_max_tries:
            delay = backoff_seconds(job_try, settings.worker_retry_backoff)
            run_log.warning(
                "ingest %s: transient error, retry %d in %.0fs: %s", source, job_try, delay, message
            )
            await _record_safely(session_factory, run_uuid, message, retry=True)
            raise Retry(defer=delay) from error
        run_log.error("ingest %s failed: %s", source, message)
        await _record_safely(session_factory, run_uuid, message, retry=False)
        raise
    summary = {
        "run_id": str(run_uuid),
        "source": source,
        "status": finished.status if finished else "complete",
        "inserted": finished.inserted if finished else 0,
        "updated": finished.updated if finished else 0,
        "unchanged": finished.unchanged if finished else 0,
        "rejected": finished.rejected if finished else 0,
        "seconds": round(time.monotonic() - started, 3),
    }
    run_log.info("ingest %s done: %s", source, summary)
    return summary


async def _ingest_pages(
    ctx: dict[str, Any],
    run: IngestRun,
    source: str,
    *,
    format_name: str | None,
    encoding: str | None,
    etag: str | None,
    last_modified: str | None,
) -> tuple[str | None, str | None]:
    """Ingest the source, then, for an OCDS feed read over HTTP, every page its packages'
    `links.next` point to. Returns the first page's validators (ETag, Last-Modified)."""
    settings = ctx["settings"]
    session_factory = ctx["session_factory"]
    url: str | None = source
    seen: set[str] = set()
    validators: tuple[str | None, str | None] = (None, None)
    done = 0
    while url is not None and url not in seen and len(seen) < settings.max_pages:
        first = not seen
        seen.add(url)
        package = PackageInfo()
        async with open_source(
            url,
            client=ctx.get("http"),
            max_bytes=settings.http_max_bytes,
            etag=etag if first else None,
            last_modified=last_modified if first else None,
        ) as opened:
            resume_from = 0
            if first:
                validators = (opened.etag, opened.last_modified)
                async with session_factory() as session, session.begin():
                    resume_from = await RunService.set_fingerprint(session, run, opened.fingerprint)
            items = read_source(
                opened.stream,
                opened.name,
                format_name=format_name,
                source_url=url,
                encoding=encoding,
                package=package,
            )
            totals = await ingest_items(
                session_factory,
                run.id,
                items,
                source=source,
                batch_size=settings.ingest_batch_size,
                resume_from=resume_from,
                already_done=done,
                resolve=resolve_pending,
            )
            done = totals.records
        url = package.next_url if is_remote(source) else None
    return validators


async def _record_safely(
    session_factory: Any, run_id: uuid.UUID, message: str, *, retry: bool
) -> None:
    """Write the failure on the run; if the database itself is down, the log has it."""
    try:
        async with session_factory() as session, session.begin():
            if retry:
                await RunService.note_retry(session, run_id, message)
            else:
                await RunService.finish(session, run_id, error=message)
    except Exception as error:  # noqa: BLE001 - best effort, the original error wins
        log.warning("could not record the outcome of run %s: %s", run_id, describe(error))
