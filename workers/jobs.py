"""Job functions: thin. Parse the arguments, take the source's lock, open the source, hand
records to the domain, and sort errors into retry / fail."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any, NoReturn

from arq import Retry

from src.domain.runs.entities import IngestChunk, IngestRun
from src.domain.runs.services import ChunkService, FeedService, RunService
from src.infra.chunks import is_json_lines, open_range, plan_ranges
from src.infra.errors import describe, is_transient
from src.infra.queue import CHUNK_FUNCTION, ingest_job_id, job_in_redis
from src.infra.source_policy import check_source_async
from src.infra.sources import (
    SourceError,
    SourceNotModified,
    SourceRetryLater,
    file_fingerprint,
    is_remote,
    local_path,
    open_source,
)
from src.infra.streams import DecompressionBudget
from src.ingest.locks import advisory_lock
from src.ingest.pipeline import ingest_items
from src.readers.ocds import PackageInfo
from src.readers.registry import read_source, resolve_pending

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
    restricted: bool = False,
) -> dict[str, Any]:
    """Ingest one source into tenders; the run row says how it went. A large JSON Lines file
    is split into chunks that any worker may take; transient faults are retried with backoff
    (arq retries only on Retry); anything else fails the run."""
    settings = ctx["settings"]
    session_factory = ctx["session_factory"]
    job_id = ctx.get("job_id")
    run_uuid = uuid.UUID(run_id) if run_id else uuid.uuid4()
    feed_uuid = uuid.UUID(feed_id) if feed_id else None
    started = time.monotonic()
    run_log = logging.LoggerAdapter(log, {"run_id": str(run_uuid), "job_id": job_id})

    async with advisory_lock(session_factory, job_id or str(run_uuid)) as locked:
        if not locked:
            run_log.warning("ingest %s is already running elsewhere: this copy stops", source)
            return {"run_id": str(run_uuid), "source": source, "status": "already running"}
        async with session_factory() as session, session.begin():
            run = await RunService.start(
                session,
                run_id=run_uuid,
                job_id=job_id,
                source=source,
                format=format,
                encoding=encoding,
                feed_id=feed_uuid,
                restricted=restricted,
            )
            feed = await FeedService.get(session, feed_uuid) if feed_uuid else None
            etag, last_modified = (feed.etag, feed.last_modified) if feed else (None, None)
        run_log.info("ingest %s started (try %d)", source, int(ctx.get("job_try", 1)))
        try:
            if run.chunks_total:
                await _enqueue_lost_chunks(ctx, run)
                return _summary(run, source, started, "split")
            if _splittable(settings, source, format):
                await _split(ctx, run, source, format, encoding)
                return _summary(run, source, started, "split")
            if restricted:
                await check_source_async(source, settings)
            validators = await _ingest_pages(
                ctx,
                run,
                source,
                format_name=format,
                encoding=encoding,
                etag=etag,
                last_modified=last_modified,
                restricted=restricted,
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
        except (Exception, asyncio.CancelledError) as error:  # noqa: BLE001 - sorted, re-raised
            await _fail_or_retry(ctx, error, run_uuid, None, run_log, source)
    summary = _summary(finished or run, source, started, None)
    run_log.info("ingest %s done: %s", source, summary)
    return summary


async def ingest_chunk(
    ctx: dict[str, Any],
    source: str,
    run_id: str,
    chunk_id: str,
    format: str | None = None,
    encoding: str | None = None,
) -> dict[str, Any]:
    """Ingest one byte range of a split source; the run completes with its last chunk."""
    settings = ctx["settings"]
    session_factory = ctx["session_factory"]
    job_id = ctx.get("job_id")
    run_uuid, chunk_uuid = uuid.UUID(run_id), uuid.UUID(chunk_id)
    run_log = logging.LoggerAdapter(log, {"run_id": run_id, "job_id": job_id})
    async with advisory_lock(session_factory, job_id or chunk_id) as locked:
        if not locked:
            run_log.warning("chunk %s is already running elsewhere: this copy stops", chunk_id)
            return {"chunk_id": chunk_id, "status": "already running"}
        async with session_factory() as session, session.begin():
            chunk = await ChunkService.get(session, chunk_uuid)
            run = await RunService.get(session, run_uuid)
            if chunk is None or run is None:
                raise SourceError(f"chunk {chunk_id} of run {run_id} does not exist")
            if chunk.status in ("complete", "failed"):
                return {"chunk_id": chunk_id, "status": chunk.status}
            await ChunkService.start(session, chunk_uuid)
        try:
            path = local_path(source)
            if file_fingerprint(path) != run.source_fingerprint:
                raise SourceError(
                    f"{path} changed while it was being ingested in chunks; ingest it again"
                )
            with path.open("rb") as handle:
                items = read_source(
                    open_range(handle, chunk.start_offset, chunk.end_offset),
                    f"{path.name}[{chunk.index}]",
                    format_name=format,
                    source_url=source,
                    encoding=encoding,
                    budget=DecompressionBudget(settings.max_decompressed_bytes),
                )
                await ingest_items(
                    session_factory,
                    run_uuid,
                    items,
                    source=source,
                    batch_size=settings.ingest_batch_size,
                    resume_from=chunk.records_done,
                    resolve=resolve_pending,
                    chunk_id=chunk_uuid,
                )
            async with session_factory() as session, session.begin():
                run_finished = await ChunkService.finish(session, chunk)
        except (Exception, asyncio.CancelledError) as error:  # noqa: BLE001 - sorted, re-raised
            await _fail_or_retry(ctx, error, run_uuid, chunk, run_log, source)
    run_log.info(
        "chunk %d of %s done%s",
        chunk.index,
        source,
        "; the run is complete" if run_finished else "",
    )
    return {"chunk_id": chunk_id, "index": chunk.index, "status": "complete"}


def _splittable(settings: Any, source: str, format_name: str | None) -> bool:
    if is_remote(source) or format_name not in (None, "ocds", "anac_json"):
        return False
    try:
        path = local_path(source)
        return bool(path.stat().st_size >= settings.chunk_min_bytes and is_json_lines(path))
    except (OSError, SourceError):
        return False  # reported by the ordinary path, which opens it


async def _split(
    ctx: dict[str, Any],
    run: IngestRun,
    source: str,
    format_name: str | None,
    encoding: str | None,
) -> None:
    settings = ctx["settings"]
    path = local_path(source)
    ranges = plan_ranges(path.stat().st_size, settings.chunk_bytes)
    queue = ctx["redis"].default_queue_name
    job_ids = [
        ingest_job_id(queue, source, format_name, chunk=f"{run.id}:{index}")
        for index in range(len(ranges))
    ]
    async with ctx["session_factory"]() as session, session.begin():
        await RunService.set_fingerprint(session, run, file_fingerprint(path))
        await ChunkService.create(session, run.id, ranges, job_ids)
    run.chunks_total = len(ranges)
    await _enqueue_lost_chunks(ctx, run, format_name=format_name, encoding=encoding)
    log.info("%s split into %d chunks", source, len(ranges))


async def _enqueue_lost_chunks(
    ctx: dict[str, Any],
    run: IngestRun,
    *,
    format_name: str | None = None,
    encoding: str | None = None,
) -> None:
    """Enqueue every unfinished chunk whose job Redis does not have (all of them right after
    the split; the lost ones when the sweeper runs this job again)."""
    async with ctx["session_factory"]() as session:
        chunks = list(await ChunkService.unfinished(session, run.id))
    redis = ctx["redis"]
    for chunk in chunks:
        if await job_in_redis(redis, chunk.job_id):
            continue
        await redis.enqueue_job(
            CHUNK_FUNCTION,
            run.source,
            run_id=str(run.id),
            chunk_id=str(chunk.id),
            format=format_name or run.format,
            encoding=encoding or run.encoding,
            _job_id=chunk.job_id,
        )


async def _ingest_pages(
    ctx: dict[str, Any],
    run: IngestRun,
    source: str,
    *,
    format_name: str | None,
    encoding: str | None,
    etag: str | None,
    last_modified: str | None,
    restricted: bool = False,
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
            client=ctx.get("http_restricted" if restricted else "http"),
            max_bytes=settings.http_max_bytes,
            max_seconds=settings.http_max_seconds,
            max_decompressed_bytes=settings.max_decompressed_bytes,
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
                budget=opened.budget,
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


def _summary(run: IngestRun, source: str, started: float, status: str | None) -> dict[str, Any]:
    return {
        "run_id": str(run.id),
        "source": source,
        "status": status or run.status,
        "inserted": run.inserted,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "rejected": run.rejected,
        "chunks": run.chunks_total,
        "seconds": round(time.monotonic() - started, 3),
    }


async def _fail_or_retry(
    ctx: dict[str, Any],
    error: BaseException,
    run_id: uuid.UUID,
    chunk: IngestChunk | None,
    run_log: logging.LoggerAdapter[logging.Logger],
    source: str,
) -> NoReturn:
    """Transient: back to queued and Retry with backoff. Shutdown (cancelled): back to queued,
    arq runs the job again. Anything else, or out of tries: the run (or chunk) fails."""
    settings = ctx["settings"]
    job_try = int(ctx.get("job_try", 1))
    message = describe(error)
    if isinstance(error, asyncio.CancelledError):
        run_log.warning("ingest %s interrupted by shutdown; it will run again", source)
        await _record_safely(ctx, run_id, chunk, "interrupted by a worker shutdown", retry=True)
        raise error
    if is_transient(error) and job_try < settings.worker_max_tries:
        delay = backoff_seconds(job_try, settings.worker_retry_backoff)
        run_log.warning(
            "ingest %s: transient error, retry %d in %.0fs: %s", source, job_try, delay, message
        )
        await _record_safely(ctx, run_id, chunk, message, retry=True)
        raise Retry(defer=delay) from error
    run_log.error("ingest %s failed: %s", source, message)
    await _record_safely(ctx, run_id, chunk, message, retry=False)
    raise error


async def _record_safely(
    ctx: dict[str, Any],
    run_id: uuid.UUID,
    chunk: IngestChunk | None,
    message: str,
    *,
    retry: bool,
) -> None:
    """Write the outcome on the run (or chunk); if the database itself is down, the log has
    it, and the sweeper finds the run again."""
    try:
        async with ctx["session_factory"]() as session, session.begin():
            if chunk is not None:
                if not retry:
                    await ChunkService.finish(session, chunk, error=message)
            elif retry:
                await RunService.note_retry(session, run_id, message)
            else:
                await RunService.finish(session, run_id, error=message)
    except Exception as error:  # noqa: BLE001 - best effort, the original error wins
        log.warning("could not record the outcome of run %s: %s", run_id, describe(error))
