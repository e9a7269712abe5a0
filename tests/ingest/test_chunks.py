"""A large JSON Lines source split into byte-range chunks, shared by two real worker
processes; the run's counts add up across chunks, and a second run changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from configs.config import Settings
from src.domain.runs.entities import IngestChunk, IngestRun
from src.domain.runs.request import IngestRequest
from src.domain.tender.entities import Tender
from src.infra.database import create_engine, create_session_factory
from src.infra.queue import create_queue_pool
from src.ingest.enqueue import enqueue_ingest
from tests.support.paths import ROOT
from tests.support.servers import Servers
from tests.support.sources import anac_source

pytestmark = pytest.mark.slow

PROCEDURES = 300


async def test_two_workers_share_one_chunked_source(
    servers: Servers, fresh_database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "big.jsonl"
    tenders = anac_source(source, PROCEDURES)
    queue_name = f"test:{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database_url,
        "REDIS_URL": servers.redis_url,
        "QUEUE_NAME": queue_name,
        "WORKER_POLL_DELAY": "0.05",
        "CHUNK_BYTES": "8192",
        "CHUNK_MIN_BYTES": "4096",
        "INGEST_BATCH_SIZE": "50",
    }
    settings = Settings(
        database_url=fresh_database_url, redis_url=servers.redis_url, queue_name=queue_name
    )
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    pool = await create_queue_pool(settings)

    def two_workers() -> None:
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "src.cli", "worker", "--burst"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        for worker in workers:
            _, stderr = worker.communicate(timeout=180)
            assert worker.returncode == 0, stderr.decode()[-2000:]

    try:
        first = await enqueue_ingest(pool, sessions, IngestRequest(str(source)))
        two_workers()
        async with sessions() as session:
            run = await session.get(IngestRun, first.run_id)
            assert run is not None
            assert (run.status, run.inserted, run.rejected) == ("complete", tenders, 0)
            assert run.chunks_total > 4 and run.chunks_done == run.chunks_total
            chunks = (
                await session.scalars(select(IngestChunk).where(IngestChunk.run_id == run.id))
            ).all()
            assert {c.status for c in chunks} == {"complete"}
            assert await session.scalar(select(func.count()).select_from(Tender)) == tenders
        again = await enqueue_ingest(pool, sessions, IngestRequest(str(source)))
        two_workers()
        async with sessions() as session:
            rerun = await session.get(IngestRun, again.run_id)
            assert rerun is not None
            assert (rerun.status, rerun.inserted, rerun.updated, rerun.unchanged) == (
                "complete",
                0,
                0,
                tenders,
            )
    finally:
        await pool.aclose()
        await engine.dispose()


def test_a_range_in_which_no_line_starts_is_empty(tmp_path: Path) -> None:
    """A chunk cut inside one long line owns no line: it reads as empty, not as an error."""
    from src.infra.chunks import open_range
    from src.readers import UnmappedDocument, map_document, read_source

    path = tmp_path / "one-long-line.jsonl"
    anac_source(path, PROCEDURES)
    size = path.stat().st_size
    first_line = len(path.read_bytes().split(b"\n", 1)[0]) + 1
    with path.open("rb") as handle:
        assert list(read_source(open_range(handle, 1, first_line - 1), "x")) == []
    with path.open("rb") as handle:
        documents = list(read_source(open_range(handle, 0, size), "x"))
    assert len(documents) == PROCEDURES  # one per line, mapped when their bytes are new
    assert all(isinstance(d, UnmappedDocument) for d in documents)
    built = [r for d in documents if isinstance(d, UnmappedDocument) for r in map_document(d)]
    assert len(built) == PROCEDURES * 2
