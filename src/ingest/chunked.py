"""A large local JSON Lines file is split into byte ranges ("chunks"), each its own job that
any worker may take; the run completes with its last chunk."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import BinaryIO

from configs.config import Settings
from src.domain.formats import Format
from src.domain.runs.entities import IngestChunk, IngestRun, RunStatus
from src.domain.runs.request import IngestRequest
from src.domain.runs.services import ChunkService, RunService
from src.infra.chunks import count_first_lines, is_json_lines, open_range, plan_ranges
from src.infra.queue import ingest_job_id, job_in_redis
from src.infra.sources import (
    SourceError,
    file_fingerprint,
    is_regular_file,
    is_remote,
    local_path,
    open_regular_file,
)
from src.infra.streams import ReadPosition
from src.ingest.deps import IngestDeps, run_log
from src.ingest.enqueue import enqueue_chunk
from src.ingest.locks import advisory_lock
from src.ingest.outcome import job_deadline
from src.ingest.pipeline import ingest_items
from src.ingest.write_policy import WritePolicy
from src.readers import detect_format, read_source

_SPLITTABLE = (None, Format.OCDS, Format.ANAC_JSON)


def splittable(settings: Settings, request: IngestRequest) -> bool:
    """A large local JSON Lines file. Blocking I/O (it reads the first line): call it off
    the event loop. Anything but a regular file is left to the ordinary path, which refuses
    it with a message."""
    if is_remote(request.location) or request.format not in _SPLITTABLE:
        return False
    try:
        path = local_path(request.location)
        if not is_regular_file(path) or path.stat().st_size < settings.chunk_min_bytes:
            return False
        return is_json_lines(path)
    except (OSError, SourceError):
        return False  # reported by the ordinary path, which opens it


async def split(deps: IngestDeps, run: IngestRun, request: IngestRequest) -> None:
    path = local_path(request.location)
    ranges = plan_ranges(path.stat().st_size, deps.settings.chunk_bytes)
    first_lines: list[int] = []  # counted on the event loop, a few MB at a time
    for _ in count_first_lines(path, [start for start, _ in ranges], first_lines):
        await asyncio.sleep(0)
    queue = deps.queue.default_queue_name
    job_ids = [
        ingest_job_id(queue, request.location, request.format, chunk=f"{run.id}:{index}")
        for index in range(len(ranges))
    ]
    async with deps.sessions() as session, session.begin():
        await RunService.set_fingerprint(session, run, file_fingerprint(path))
        await ChunkService.create(session, run.id, ranges, job_ids, first_lines)
    run.chunks_total = len(ranges)
    await enqueue_lost_chunks(deps, run)
    run_log(run.id, None).info("%s split into %d chunks", request.location, len(ranges))


async def enqueue_lost_chunks(deps: IngestDeps, run: IngestRun) -> None:
    """Enqueue every unfinished chunk whose job Redis does not have (all of them right after
    the split; the lost ones when the sweeper runs the run's job again). A lost chunk whose
    attempts are spent fails instead (and the run with its last chunk)."""
    async with deps.sessions() as session:
        chunks = list(await ChunkService.unfinished(session, run.id))
    request = run.request()
    for chunk in chunks:
        if await job_in_redis(deps.queue, chunk.job_id):
            continue
        if chunk.attempts >= deps.settings.worker_max_tries:
            async with deps.sessions() as session, session.begin():
                await ChunkService.give_up(session, chunk)
            run_log(run.id, chunk.job_id).error("chunk %d failed: attempts spent", chunk.index)
            continue
        await enqueue_chunk(deps.queue, request, chunk.id, chunk.job_id, chunk.index)


@dataclass(frozen=True)
class ChunkSummary:
    chunk_id: str
    status: str
    index: int | None = None


async def run_chunk(
    deps: IngestDeps, request: IngestRequest, chunk_id: str, job_id: str | None
) -> ChunkSummary:
    """Ingest one byte range of a split source; the run completes with its last chunk."""
    log = run_log(request.run_id, job_id)
    async with (
        job_deadline(deps.settings.worker_job_timeout),
        advisory_lock(deps.sessions, job_id or chunk_id) as locked,
    ):
        if not locked:
            log.warning("chunk %s is already running elsewhere: this copy stops", chunk_id)
            return ChunkSummary(chunk_id, "already running")
        chunk, run, finished = await _start_chunk(deps, request, chunk_id)
        if finished is not None:
            return ChunkSummary(chunk_id, finished, chunk.index)
        await _read_chunk(deps, request, chunk, run)
        async with deps.sessions() as session, session.begin():
            run_finished = await ChunkService.finish(session, chunk)
    log.info(
        "chunk %d of %s done%s",
        chunk.index,
        request.location,
        "; the run is complete" if run_finished else "",
    )
    return ChunkSummary(chunk_id, "complete", chunk.index)


async def _start_chunk(
    deps: IngestDeps, request: IngestRequest, chunk_id: str
) -> tuple[IngestChunk, IngestRun, str | None]:
    """The chunk and its run, and its status if this attempt does not go ahead: a chunk
    already finished, or one whose attempts are spent (which fails now)."""
    async with deps.sessions() as session, session.begin():
        chunk = await ChunkService.get(session, uuid.UUID(chunk_id))
        run = await RunService.get(session, request.run_id)
        if chunk is None or run is None:
            raise SourceError(f"chunk {chunk_id} of run {request.run_id} does not exist")
        if chunk.status in (RunStatus.COMPLETE, RunStatus.FAILED):
            return chunk, run, chunk.status
        if chunk.attempts >= deps.settings.worker_max_tries:
            await ChunkService.give_up(session, chunk)
            return chunk, run, RunStatus.FAILED
        await ChunkService.start(session, chunk.id)
    return chunk, run, None


async def _read_chunk(
    deps: IngestDeps, request: IngestRequest, chunk: IngestChunk, run: IngestRun
) -> None:
    path = local_path(request.location)
    if file_fingerprint(path) != run.source_fingerprint:
        raise SourceError(f"{path} changed while it was being ingested in chunks; ingest it again")
    size = chunk.end_offset - chunk.start_offset
    with (
        await asyncio.to_thread(open_regular_file, path) as handle,
        ReadPosition.watch(handle, size, start=chunk.start_offset) as position,
    ):
        limits = deps.read_limits
        # A chunk is JSON Lines of the file's format whatever line it starts with (a broken
        # one is a rejection, and must not be taken for another format or a JSON document).
        limits.hints.json_lines = True
        limits.hints.first_line = chunk.first_line or 1  # none: split before it was kept
        file_format = request.format or await asyncio.to_thread(_format_of, handle, path.name)
        reading = read_source(
            open_range(handle, chunk.start_offset, chunk.end_offset),
            f"{path.name}[{chunk.index}]",
            format=file_format,
            source_url=request.location,
            encoding=request.encoding,
            limits=limits,
        )
        await ingest_items(
            deps.sessions,
            run.id,
            reading,
            location=request.location,
            policy=WritePolicy.of(request, deps.settings),
            batch_size=deps.settings.ingest_batch_size,
            resume_from=chunk.records_done,
            chunk_id=chunk.id,
            position=position,
            alerts=deps.alerts,
            hints=limits.hints,
        )


def _format_of(handle: BinaryIO, name: str) -> Format:
    """The format of the whole file, told from its first bytes (those of its first chunk)."""
    handle.seek(0)
    return detect_format(handle, name)
