"""The worker writes its progress on the run row with each batch: bytes of the source read
so far of its size, whole or split into chunks."""

from __future__ import annotations

import gzip
import uuid
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings
from src.domain.runs.entities import IngestChunk
from src.domain.runs.progress import run_progress
from src.domain.runs.request import IngestRequest
from src.domain.runs.services import ChunkService, RunService
from src.domain.tender.schemas import UpsertCounts
from src.infra.sources import open_source
from src.infra.streams import ReadPosition
from src.ingest.pipeline import ingest_items
from src.ingest.write_policy import WritePolicy
from src.readers import read_source
from tests.support.db import run_row
from tests.support.http_server import Route, serve
from tests.support.jobs import ingest_source, run_chunks, with_settings
from tests.support.paths import FIXTURES
from tests.support.sources import anac_source


async def test_a_local_file_is_read_to_its_size(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    source = FIXTURES / "ocds" / "anac_two_procedures.json"
    run_id = str(uuid.uuid4())
    await ingest_source(ctx, str(source), run_id=run_id)
    run = await run_row(db_session, run_id)
    size = source.stat().st_size
    assert (run.status, run.bytes_read, run.bytes_total) == ("complete", size, size)
    assert run.progress_at is not None and run.started_at is not None
    progress = run_progress(run)
    assert progress.records == run.inserted + run.rejected > 0
    assert progress.fraction == 1.0 and progress.eta_seconds is None, "finished: no ETA"


async def test_batches_write_progress_as_they_go(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    """With a batch of one, the rows are written many times: the last write before the end
    already knows the size, and a read position no larger than it."""
    with_settings(ctx, ingest_batch_size=1)
    source = tmp_path / "big.jsonl"
    anac_source(source, 40)
    run_id = str(uuid.uuid4())
    await ingest_source(ctx, str(source), run_id=run_id)
    run = await run_row(db_session, run_id)
    assert run.bytes_total == source.stat().st_size == run.bytes_read
    assert run.inserted == 80


async def test_each_batch_writes_where_the_reading_is(
    session_factory: async_sessionmaker[AsyncSession],
    db_session: AsyncSession,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """Before the run finishes (which says it read everything), the batches have written the
    file's read position: past the start, at most its size; and a reader that closes its
    file at its end leaves the position at the end."""
    source = tmp_path / "big.jsonl"
    anac_source(source, 40)
    request = IngestRequest(str(source))
    async with session_factory() as session, session.begin():
        await RunService.queue(session, request, job_id="progress-batches")
    async with open_source(str(source)) as opened:
        await ingest_items(
            session_factory,
            request.run_id,
            read_source(opened.stream, opened.name),
            location=request.location,
            policy=WritePolicy.of(request, settings),
            batch_size=7,
            position=opened.position,
        )
    run = await run_row(db_session, str(request.run_id))
    assert (run.status, run.inserted, run.progress_at is not None) == ("queued", 80, True)
    assert run.bytes_read == run.bytes_total == source.stat().st_size


async def test_a_split_run_sums_its_chunks(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    with_settings(ctx, chunk_min_bytes=1, chunk_bytes=16384, ingest_batch_size=10)
    source = tmp_path / "big.jsonl"
    tenders = anac_source(source, 60)
    size = source.stat().st_size
    run_id = str(uuid.uuid4())
    await ingest_source(ctx, str(source), run_id=run_id)
    split = await run_row(db_session, run_id)
    assert (split.status, split.bytes_total, split.bytes_read) == ("running", size, 0)
    await run_chunks(ctx, uuid.UUID(run_id))
    run = await run_row(db_session, run_id)
    assert (run.status, run.inserted, run.chunks_total > 1) == ("complete", tenders, True)
    assert (run.bytes_read, run.bytes_total) == (size, size)
    chunks = (
        await db_session.scalars(select(IngestChunk).where(IngestChunk.run_id == run.id))
    ).all()
    assert all(0 < c.bytes_read <= c.end_offset - c.start_offset for c in chunks), [
        (c.start_offset, c.end_offset, c.bytes_read) for c in chunks
    ]


async def test_a_batch_writes_the_position_and_a_chunk_adds_up_on_its_run(
    db_session: AsyncSession,
) -> None:
    request = IngestRequest("/data/big.jsonl")
    await RunService.queue(db_session, request, job_id="progress-test")
    record = partial(RunService.record_batch, db_session, request.run_id, source=request.location)
    await record(counts=UpsertCounts(inserted=3), rejected=[], records_done=3, bytes_read=10)
    run = await run_row(db_session, str(request.run_id))
    assert (run.bytes_read, run.bytes_total, run.records_done) == (10, None, 3)
    assert run.progress_at is not None
    await record(counts=UpsertCounts(), rejected=[], records_done=5, bytes_read=40, bytes_total=90)
    run = await run_row(db_session, str(request.run_id))
    assert (run.bytes_read, run.bytes_total) == (40, 90)

    await ChunkService.create(db_session, request.run_id, [(0, 50), (50, 90)], ["c0", "c1"], [1, 4])
    chunks = list(await ChunkService.unfinished(db_session, request.run_id))
    for chunk, position in zip(chunks, (20, 15), strict=True):
        await record(
            counts=UpsertCounts(),
            rejected=[],
            records_done=1,
            chunk_id=chunk.id,
            bytes_read=position,
        )
    run = await run_row(db_session, str(request.run_id))
    assert (run.bytes_read, run.bytes_total, run.records_done) == (35, 90, 5)


def test_the_read_position_is_the_files_offset(tmp_path: Path) -> None:
    path = tmp_path / "source.bin"
    path.write_bytes(bytes(100))
    handle = path.open("rb", buffering=0)
    with ReadPosition.watch(handle, 100) as position, ReadPosition.watch(handle, 30, 20) as chunk:
        handle.read(10)
        assert (position.bytes_read(), position.total) == (10, 100)
        assert (position.after(500).bytes_read(), position.after(500).total) == (510, 600)
        assert chunk.bytes_read() == 0, "before its range"
        handle.read(15)
        assert chunk.bytes_read() == 5
        handle.read(80)
        handle.close()
        assert chunk.bytes_read() == 30, "never past its range"
        assert position.bytes_read() == 100, "the reader closed its file: the position stays"


async def test_a_downloaded_gzip_source_counts_the_bytes_as_sent(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    """A URL is downloaded first: its total is the body's size as it came (compressed)."""
    body = gzip.compress((FIXTURES / "ocds" / "anac_two_procedures.json").read_bytes())
    run_id = str(uuid.uuid4())
    with serve({"/feed.json.gz": Route(body)}) as publisher:
        await ingest_source(ctx, publisher.base_url + "/feed.json.gz", run_id=run_id)
    run = await run_row(db_session, run_id)
    assert (run.status, run.bytes_read, run.bytes_total) == ("complete", len(body), len(body))
