"""An unchanged re-ingest writes nothing: no row is updated, and the WAL barely moves (under
1 MB per 100,000 rows: what is left is the run's own bookkeeping)."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from configs.config import Settings
from src.domain.runs.entities import IngestRun
from src.domain.runs.request import IngestRequest
from src.infra.database import create_engine, create_session_factory
from src.infra.queue import create_queue_pool
from src.ingest.enqueue import enqueue_ingest
from tests.support import generators as generate
from tests.support.paths import ROOT
from tests.support.servers import Servers
from workers.main import create_worker

pytestmark = pytest.mark.slow

ROWS = 20_000
WAL_BYTES_PER_100K_ROWS = 1_000_000


@pytest.fixture
def settings(servers: Servers, fresh_database_url: str) -> Settings:
    """A worker's settings on the test's own database (its commits are real)."""
    return Settings(
        database_url=fresh_database_url,
        redis_url=servers.redis_url,
        queue_name=f"test:{uuid.uuid4().hex[:8]}",
        worker_poll_delay=0.05,
        data_dir=ROOT / ".data",
    )


async def ingest(settings: Settings, source: Path) -> IngestRun:
    """The real path in this process: enqueue_ingest, then a burst worker runs ingest_source
    (and the chunk jobs of a split source) until the queue is empty."""
    engine = create_engine(settings)
    pool = await create_queue_pool(settings)
    try:
        factory = create_session_factory(engine)
        enqueued = await enqueue_ingest(pool, factory, IngestRequest(str(source)))
        assert enqueued.run_id is not None
        worker = create_worker(settings, burst=True, handle_signals=False)
        try:
            await worker.async_run()
        finally:
            await worker.close()
        async with factory() as session:
            run = await session.get(IngestRun, enqueued.run_id)
    finally:
        await pool.aclose()
        await engine.dispose()
    assert run is not None
    return run


async def _row_versions(connection: asyncpg.Connection, table: str) -> dict[str, str]:
    """Each row's physical version: an UPDATE (even to equal values) changes xmin and ctid."""
    rows = await connection.fetch(f"SELECT id::text, xmin::text, ctid::text FROM {table}")
    return {row[0]: f"{row[1]}@{row[2]}" for row in rows}


async def test_unchanged_reingest_updates_no_row_and_writes_almost_no_wal(
    settings: Settings, fresh_database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "anac.jsonl"
    generated = generate.write(source, tenders=ROWS)
    assert generated.tenders == ROWS

    first = await ingest(settings, source)
    assert (first.status, first.inserted, first.rejected) == ("complete", ROWS, 0)

    dsn = make_url(fresh_database_url).set(drivername="postgresql").render_as_string(False)
    connection = await asyncpg.connect(dsn)
    try:
        # The steady state of a loaded table: what autovacuum does after a load (hint bits,
        # visibility map) is done now, so it neither lands in nor is charged to the window.
        await connection.execute("VACUUM (ANALYZE)")
        tenders = await _row_versions(connection, "tenders")
        publications = await _row_versions(connection, "publications")
        assert len(tenders) == ROWS
        wal_before = await connection.fetchval("SELECT pg_current_wal_lsn()")

        second = await ingest(settings, source)

        wal_bytes = int(
            await connection.fetchval(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)", wal_before
            )
        )
        assert await _row_versions(connection, "tenders") == tenders, "a tender row was written"
        assert await _row_versions(connection, "publications") == publications
    finally:
        await connection.close()

    assert (second.status, second.inserted, second.updated, second.unchanged) == (
        "complete",
        0,
        0,
        ROWS,
    )
    budget = WAL_BYTES_PER_100K_ROWS * ROWS // 100_000
    assert wal_bytes < budget, f"an unchanged re-ingest of {ROWS} rows wrote {wal_bytes} B of WAL"
