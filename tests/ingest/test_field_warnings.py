"""One bad field never drops a tender: the tender is kept with the field empty, and the
problem is stored beside the run's rejections (kind `field`, the field, the raw value),
counted on the run (the API's side: tests/api/test_rejections.py)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import IngestRun, Rejection
from src.domain.tender.entities import Tender
from tests.support.jobs import ingest_source

CSV = (
    "cig;oggetto_gara;oggetto_lotto;importo_lotto;data_pubblicazione;data_scadenza_offerta;"
    "denominazione_amministrazione_appaltante\n"
    "9000001A0B;Gara;Pulizie;n.d.;31/02/2024;2024-05-10;Comune di Prova\n"
    "9000002B1C;Gara;Mensa;1000,50;2024-03-01;2024-05-11;Comune di Prova\n"
)


async def test_a_bad_amount_and_date_keep_the_tender_with_warnings(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    source = tmp_path / "cig.csv"
    source.write_text(CSV, encoding="utf-8")
    summary = await ingest_source(ctx, str(source))
    assert (summary["inserted"], summary["rejected"]) == (2, 0), summary
    kept = await db_session.scalar(select(Tender).where(Tender.cig == "9000001A0B"))
    assert kept is not None and kept.title == "Pulizie"
    assert (kept.amount, kept.published_at) == (None, None)
    assert kept.deadline_at is not None  # the good fields stay
    run = await db_session.get_one(IngestRun, uuid.UUID(summary["run_id"]))
    assert (run.rejected, run.warnings) == (0, 2)
    rows = (
        await db_session.execute(
            select(Rejection.kind, Rejection.field, Rejection.raw_value, Rejection.position)
            .where(Rejection.run_id == run.id)
            .order_by(Rejection.field)
        )
    ).all()
    assert [(kind, field, raw) for kind, field, raw, _ in rows] == [
        ("field", "amount", "n.d."),
        ("field", "published_at", "31/02/2024"),
    ]
    assert all(position for *_, position in rows)  # where in the file
