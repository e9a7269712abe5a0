"""Looking inside through the real `tenders` commands at 80 columns: short ids, one line a
row, id prefixes, `list` filters, `show`, `stats`, `changes --field`."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

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

# Two runs whose ids share their first four characters, and a long path with a file name.
FIRST_RUN = uuid.UUID("abcd1111-0000-4000-8000-000000000001")
SECOND_RUN = uuid.UUID("abcd2222-0000-4000-8000-000000000002")
LONG_SOURCE = "/srv/tenders/" + "a-rather-long-folder-name/" * 5 + "ocds-2025.json"
CIG_MOVED = "0000001A0B"  # lot 1 of procedure P00001: its deadline moves
CIG_SIBLING = "0000002A0B"  # lot 2 of the same procedure, awarded
CIG_OTHER = "0000003A0B"  # another procedure, another CPV, cancelled


async def seed(database_url: str) -> None:
    engine = create_engine(Settings(database_url=database_url))
    sessions = create_session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            for run_id, rejected in ((FIRST_RUN, 1), (SECOND_RUN, 0)):
                request = IngestRequest(LONG_SOURCE, run_id=run_id)
                await RunService.start(session, request, job_id="j", max_attempts=5)
                await RunService.record_batch(
                    session,
                    run_id,
                    source=LONG_SOURCE,
                    counts=UpsertCounts(inserted=3),
                    rejected=[RejectedRecord(reason="no CIG", position="line 7")] * rejected,
                    records_done=3,
                )
                await RunService.finish(session, run_id)
            await FeedService.add(session, source=LONG_SOURCE, format=None, interval_seconds=600)
        lots = [
            record(1),
            record(
                2,
                procedure_id="P00001",
                supplier_name="Strade Srl",
                award_amount="99000.00",
                award_currency="EUR",
                awarded_at=BASE_TIME + timedelta(days=40),
            ),
            record(3, cpv="90910000-9", status="cancelled", title="Pulizia degli uffici"),
        ]
        async with sessions() as session, session.begin():
            await TenderService.upsert_many(session, lots, run_id=FIRST_RUN)
        moved = record(
            1,
            deadline_at=BASE_TIME + timedelta(days=60),
            source_updated_at=BASE_TIME + timedelta(days=20),
        )
        async with sessions() as session, session.begin():
            await TenderService.upsert_many(session, [moved], run_id=SECOND_RUN)
    finally:
        await engine.dispose()


@pytest.fixture
async def narrow(env: dict[str, str]) -> dict[str, str]:
    await seed(env["DATABASE_URL"])
    return {**env, "COLUMNS": "80"}


def shown(env: dict[str, str], *args: str) -> list[str]:
    """The lines of a command that must succeed and fit 80 columns."""
    result = run_cli(env, *args)
    assert result.returncode == 0, (args, result.stderr)
    lines = result.stdout.splitlines()
    assert [line for line in lines if len(line) > 80] == [], (args, result.stdout)
    return lines


def refused(env: dict[str, str], *args: str) -> str:
    """A usage error: exit 2, one line on stderr, nothing on stdout."""
    result = run_cli(env, *args)
    assert result.returncode == 2, (args, result.returncode, result.stdout, result.stderr)
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr


def tender_ids(env: dict[str, str], *filters: str) -> list[str]:
    """The CIGs `list` finds, sorted (the seed stores its tenders in one transaction: they
    were all created at the same moment, so newest first does not order them)."""
    listed = run_cli(env, "list", "--format", "jsonl", *filters)
    assert listed.returncode == 0, listed.stderr
    return sorted(orjson.loads(line)["cig"] for line in listed.stdout.splitlines())


def test_tables_fit_80_columns_with_short_ids(narrow: dict[str, str]) -> None:
    runs = shown(narrow, "runs")
    rows = [line for line in runs if line.startswith("abcd")]
    assert sorted(row[:9] for row in rows) == ["abcd1111 ", "abcd2222 "], runs
    assert all("…/ocds-2025.json" in row for row in rows), "the file name is kept"
    assert str(FIRST_RUN) not in "\n".join(runs)
    whole = [orjson.loads(x) for x in run_cli(narrow, "runs", "-f", "jsonl").stdout.splitlines()]
    assert {(run["id"], run["source"]) for run in whole} == {
        (str(FIRST_RUN), LONG_SOURCE),
        (str(SECOND_RUN), LONG_SOURCE),
    }, "jsonl keeps whole values"
    feeds = shown(narrow, "feeds", "list")
    assert "…/ocds-2025.json" in feeds[-1] and len(feeds[-1].split()[0]) == 8, feeds
    changes = shown(narrow, "changes", "--since", "2000-01-01")
    assert any(CIG_MOVED in line and "deadline_at" in line for line in changes), changes
    history = shown(narrow, "history", CIG_MOVED)
    assert any("deadline_at" in line and "abcd2222" in line for line in history), history
    for args in (("list",), ("show", CIG_MOVED), ("stats",), ("rejections", "abcd1")):
        shown(narrow, *args)


def test_id_prefixes(narrow: dict[str, str]) -> None:
    title = shown(narrow, "rejections", "abcd1")[0]
    assert str(FIRST_RUN) in title and "1 rejections" in title, title
    assert "abcd1111" in refused(narrow, "rejections", "abcd"), "ambiguous: both are named"
    assert "no run" in refused(narrow, "rejections", "ffff0000")
    assert "at least 4" in refused(narrow, "rejections", "ab")
    [tender] = [
        orjson.loads(x)
        for x in run_cli(narrow, "list", "-f", "jsonl", "--cig", CIG_MOVED).stdout.splitlines()
    ]
    short = tender["id"][:8]
    assert any("deadline_at" in line for line in shown(narrow, "history", short))
    assert any(CIG_MOVED in line for line in shown(narrow, "show", short[:5]))
    assert "no tender" in refused(narrow, "show", "0000009Z9Z")
    feed_id = shown(narrow, "feeds", "list")[-1].split()[0]
    assert run_cli(narrow, "feeds", "remove", feed_id).returncode == 0
    assert "no feed" in refused(narrow, "feeds", "remove", feed_id)


def test_list_filters(narrow: dict[str, str]) -> None:
    assert tender_ids(narrow) == [CIG_MOVED, CIG_SIBLING, CIG_OTHER]
    assert tender_ids(narrow, "--cig", CIG_MOVED.lower()) == [CIG_MOVED]
    assert tender_ids(narrow, "--cpv", "4523") == [CIG_MOVED, CIG_SIBLING]
    assert tender_ids(narrow, "--cpv", "90910000-9") == [CIG_OTHER], "a full code: its branch"
    assert tender_ids(narrow, "--status", "cancelled") == [CIG_OTHER]
    assert (
        len(tender_ids(narrow, "--source", "anac", "--buyer", "80012345678", "--limit", "1")) == 1
    )
    assert tender_ids(narrow, "--source", "ted") == []
    # deadlines: lot 1 moved to day 60, lot 2 at day 32, lot 3 at day 33
    assert tender_ids(narrow, "--deadline-after", "2025-04-15") == [CIG_MOVED]
    assert tender_ids(narrow, "--deadline-before", "2025-04-03") == [CIG_SIBLING]
    assert tender_ids(narrow, "--published-after", "2025-03-03T12:00:00") == [CIG_OTHER]
    assert tender_ids(narrow, "-q", "pulizia uff") == [CIG_OTHER]
    assert tender_ids(narrow, "-q", "stradale", "--status", "cancelled") == []
    table = shown(narrow, "list", "--status", "active")
    assert len(table) == 4 and table[2][:8] == table[2].split()[0], table
    assert "CIG" in refused(narrow, "list", "--cig", "12")
    assert "cancelled" in refused(narrow, "list", "--status", "open")
    assert "q needs" in refused(narrow, "list", "-q", "a")


def test_show(narrow: dict[str, str]) -> None:
    text = "\n".join(shown(narrow, "show", CIG_MOVED))
    for column in ("identity_key", "procedure_id", "buyer_name", "cpv", "deadline_at", "title"):
        assert column in text, column
    assert "award: none recorded" in text
    assert "other lots of procedure P00001 (1)" in text and CIG_SIBLING in text
    assert "last 1 changes" in text and "deadline_at" in text
    sibling = "\n".join(shown(narrow, "show", CIG_SIBLING))
    assert "Strade Srl" in sibling and "99000.00" in sibling, sibling


def test_stats(narrow: dict[str, str], tmp_path: Path) -> None:
    waiting = tmp_path / "waiting.json"  # a file that exists: the door checks
    waiting.write_text('{"releases": []}')
    queued = run_cli(narrow, "ingest", str(waiting))
    assert queued.returncode == 0, queued.stderr
    text = "\n".join(shown(narrow, "stats"))
    counts = [line.split() for line in text.splitlines()]
    assert ["anac", "active", "2"] in counts and ["anac", "cancelled", "1"] in counts, text
    assert ["all", "3"] in counts, text
    assert "runs in the last 24 h: 3 (2 complete, 1 queued)" in text, text
    assert "6 inserted" in text and "1 rejection," in text, text
    assert "oldest feed:" in text and "never run" in text and "ocds-2025.json" in text, text
    assert f"queue {narrow['QUEUE_NAME']}: 1 job waiting" in text, text


def test_changes_by_field(narrow: dict[str, str]) -> None:
    def fields(*args: str) -> set[str]:
        result = run_cli(narrow, "changes", "--since", "2000-01-01", "-f", "jsonl", *args)
        assert result.returncode == 0, result.stderr
        return {orjson.loads(line)["field"] for line in result.stdout.splitlines()}

    assert fields() == {"deadline_at"}
    assert fields("--field", "deadline_at") == {"deadline_at"}
    assert fields("--field", "status,amount") == set()
    assert fields("--field", "status", "--field", "deadline_at") == {"deadline_at"}
    assert "deadline_at" in refused(narrow, "changes", "--since", "2000-01-01", "--field", "x")
