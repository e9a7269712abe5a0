"""Every real publication in ../shared/data ingests without a crash, and ingesting it a second
time changes nothing. Prints a table per file (run pytest with -s to see it)."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import Rejection
from tests.support.jobs import ingest_source

# Documentation and side tables that sit beside the publications: not tender sources.
NOT_SOURCES = {
    "README.txt",
    "SDK_examples_README.md",
    "cig_bulk_csv_columns.txt",
    "it_anac_compiled_releases_2022_sample.meta.json",
}
# Side tables of the ANAC detail data: read, and refused with a clear message.
SIDE_TABLES = {"anac_cig_detail_messina_bando_CPV.csv", "anac_cig_detail_messina_fields.csv"}
# The expected outputs of the OCDS merge test are compiled/versioned releases themselves.
EXPECTED = (
    "mx_cdmx_compiled_release_1ocid.expected.json",
    "mx_cdmx_versioned_release_1ocid.expected.json",
)


@pytest.mark.slow  # ingests every real file twice: 4-10 s
async def test_every_shared_file_ingests_and_a_second_time_changes_nothing(
    ctx: dict[str, Any], db_session: AsyncSession, shared_data: Path
) -> None:
    files = sorted(p for p in shared_data.rglob("*") if p.is_file() and p.name not in NOT_SOURCES)
    lines = [
        f"{'file':58} {'inserted':>8} {'updated':>7} {'unch.':>5} {'rej.':>4} "
        f"{'2nd ins/upd':>11} {'s':>5}  reasons"
    ]
    for path in files:
        started = time.monotonic()
        if path.name in SIDE_TABLES:
            with pytest.raises(ValueError, match=r"no CIG column|cannot tell the format"):
                await ingest_source(ctx, str(path))
            lines.append(f"{path.name:58} refused with a clear error: not a tender file")
            continue
        first = await ingest_source(ctx, str(path))
        seconds = time.monotonic() - started
        second = await ingest_source(ctx, str(path))
        assert first["status"] == second["status"] == "complete", (path.name, first, second)
        assert (second["inserted"], second["updated"]) == (0, 0), (path.name, second)
        reasons = Counter(
            reason.split(":", 1)[-1].strip()[:60]
            for reason in (
                await db_session.scalars(
                    select(Rejection.reason).where(Rejection.run_id == uuid.UUID(first["run_id"]))
                )
            ).all()
        )
        lines.append(
            f"{path.name:58} {first['inserted']:>8} {first['updated']:>7} "
            f"{first['unchanged']:>5} {first['rejected']:>4} "
            f"{second['inserted']:>5}/{second['updated']:<5} {seconds:>5.2f}  "
            + "; ".join(f"{n} x {r}" for r, n in reasons.most_common(3))
        )
    print("\n" + "\n".join(lines))
