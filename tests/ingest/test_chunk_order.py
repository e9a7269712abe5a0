"""A split file's ranges: full ones first, then shorter and shorter ones, queued in file
order, so that workers sharing a file finish it nearly together."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

from arq.connections import ArqRedis
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from configs.config import Settings
from src.domain.runs.entities import IngestChunk
from src.infra.chunks import TAIL_FLOOR, plan_ranges
from tests.support.jobs import ingest_source, with_settings
from tests.support.sources import anac_source


@given(st.integers(1, 10**5), st.integers(0, 300), st.floats(0, 1))
def test_ranges_are_whole_ones_then_shorter_ones(chunk: int, whole: int, part: float) -> None:
    size = max(1, whole * chunk + int(part * chunk))
    ranges = plan_ranges(size, chunk)
    assert ranges[0][0] == 0 and ranges[-1][1] == size
    assert all(end == next_start for (_, end), (next_start, _) in itertools.pairwise(ranges))
    sizes = [end - start for start, end in ranges]
    floor = max(1, chunk // TAIL_FLOOR)
    # Never longer than the one before (the last may have taken in a rest of the file).
    assert all(chunk >= a >= b >= floor for a, b in itertools.pairwise(sizes[:-1]))
    assert 0 < sizes[-1] <= max(chunk, floor + floor // 2)
    # A few more ranges than cutting the file in whole ones, whatever its size.
    assert len(ranges) <= -(-size // chunk) + 8


def test_a_large_file_keeps_its_whole_ranges_and_ends_in_short_ones() -> None:
    mib = 1 << 20
    sizes = [end - start for start, end in plan_ranges(230 * mib, 32 * mib)]
    # Whole ones while a quarter of what is left is one, then shorter and shorter ones.
    assert sizes[:4] == [32 * mib] * 4 and len(sizes) == 12
    assert sizes[4:] == [*sorted(sizes[4:-1], reverse=True), sizes[-1]]
    assert max(sizes[-4:]) < 9 * mib  # the last four: about a quarter of a whole one


async def test_the_ranges_are_queued_in_file_order(
    ctx: dict[str, Any],
    db_session: AsyncSession,
    tmp_path: Path,
    queue: ArqRedis,
    settings: Settings,
) -> None:
    source = tmp_path / "big.jsonl"
    anac_source(source, 120)
    with_settings(ctx, chunk_min_bytes=1, chunk_bytes=4096)
    run_id = uuid.UUID(str(uuid.uuid4()))
    assert (await ingest_source(ctx, str(source), run_id=str(run_id)))["status"] == "split"
    chunks = (
        await db_session.scalars(
            select(IngestChunk).where(IngestChunk.run_id == run_id).order_by(IngestChunk.index)
        )
    ).all()
    assert len(chunks) > 8
    queued = [job.decode() for job in await queue.zrange(settings.queue_name, 0, -1)]
    assert [job for job in queued if job in {c.job_id for c in chunks}] == [
        c.job_id for c in chunks
    ]
