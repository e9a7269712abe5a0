"""The decompression limit through the real job: a bomb inside an archive fails its run, and
the tenders of the archive's good members before it are kept, whatever the batch size."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import IngestRun
from src.domain.tender.entities import Tender
from src.infra.streams import SizeLimitExceededError
from tests.support.archives import BOMB, anac_cigs, anac_lines, gzipped, write_tar_gz, write_zip
from tests.support.jobs import ingest_source, with_settings

Build = Callable[[Path, dict[str, bytes]], Path]
ARCHIVES: dict[str, Build] = {
    "deflated zip member": lambda tmp, good: write_zip(
        tmp / "bomb.zip", {**good, "c-bomb.json": BOMB}
    ),
    "gzip member of a zip": lambda tmp, good: write_zip(
        tmp / "nested.zip", {**good, "c-bomb.json.gz": gzipped(BOMB)}
    ),
    "gzip member of a tar.gz": lambda tmp, good: write_tar_gz(
        tmp / "nested.tar.gz", {**good, "c-bomb.json.gz": gzipped(BOMB)}
    ),
}


@pytest.mark.parametrize("batch_size", [1, 1000], ids=["batch-1", "batch-1000"])
@pytest.mark.parametrize("kind", list(ARCHIVES))
async def test_a_bomb_in_an_archive_fails_the_run_after_the_good_members(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path, kind: str, batch_size: int
) -> None:
    """The good members' tenders are kept, even those read in the batch the bomb stops."""
    good = {"a.jsonl": anac_lines(tmp_path, 5), "b.jsonl": anac_lines(tmp_path, 5, first=5)}
    archive = ARCHIVES[kind](tmp_path, good)
    with_settings(ctx, max_decompressed_bytes=1024 * 1024, ingest_batch_size=batch_size)
    run_id = str(uuid.uuid4())
    with pytest.raises(SizeLimitExceededError, match="possible decompression bomb"):
        await ingest_source(ctx, str(archive), run_id=run_id)
    run = await db_session.get(IngestRun, uuid.UUID(run_id))
    assert run is not None and run.status == "failed"
    assert "c-bomb.json" in (run.error or "") and "MAX_DECOMPRESSED_BYTES" in (run.error or "")
    stored = set((await db_session.scalars(select(Tender.cig))).all())
    assert anac_cigs(10) <= stored
