"""Four worker processes ingest overlapping sources that carry different versions of the
same tenders, in an order that puts old versions last: the newest version wins every time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from configs.config import Settings
from src.domain.runs.entities import IngestRun
from src.domain.tender.entities import Tender
from src.infra.database import create_engine, create_session_factory
from tests.support.db import enqueue_sources, table_state
from tests.support.processes import Workers, worker_env
from tests.support.servers import Servers
from tests.support.sources import anac_source

pytestmark = pytest.mark.slow

PROCEDURES = 800


async def test_four_workers_overlapping_versions_newest_wins(
    servers: Servers,
    fresh_database_url: str,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    # Version v covers procedures [100*(v-1), PROCEDURES): each overlaps all the others.
    sources = []
    for version in (4, 3, 2, 1, 5, 6):  # newest first, so the old ones race to regress
        path = tmp_path / f"v{version}.jsonl"
        first = 100 * (version - 1) if version <= 4 else 0
        anac_source(path, PROCEDURES - first, version=version, first=first)
        sources.append(path)
    env = worker_env(
        fresh_database_url,
        servers.redis_url,
        INGEST_BATCH_SIZE="40",
        WORKER_MAX_TRIES="10",
        WORKER_MAX_JOBS="2",
    )
    engine = create_engine(Settings(database_url=fresh_database_url))
    sessions = create_session_factory(engine)
    try:
        await enqueue_sources(env, *(str(path) for path in sources))
        group = workers(env)
        processes = [group.start("--burst") for _ in range(4)]
        for process in processes:
            assert process.wait(timeout=240) == 0, group.output()
        async with sessions() as session:
            runs = (await session.scalars(select(IngestRun))).all()
            assert {run.status for run in runs} == {"complete"}, [
                (run.source, run.status, run.error) for run in runs
            ]
            tenders = (
                await session.execute(
                    select(
                        Tender.procedure_id, Tender.lot_id, Tender.amount, Tender.source_updated_at
                    )
                )
            ).all()
        assert len(tenders) == PROCEDURES * 2
        for _, lot_id, amount, updated_at in tenders:
            assert updated_at is not None and updated_at.month == 6, "version 6 is the newest"
            lot = int(str(lot_id)[-3:], 16)
            assert amount is not None and int(amount) == 1000 * (lot + 1) + 6
        state = await table_state(engine)
        assert state["rows"] == state["distinct"] == PROCEDURES * 2
        retried = sum(run.attempts - 1 for run in runs)
        print(f"\nruns retried after deadlock/serialization faults: {retried}")
    finally:
        await engine.dispose()
