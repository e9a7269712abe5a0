"""The progress line of a run: bytes of the total, records, rate, rejections, ETA; the
runs table's short cell; the live bars on a terminal."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from src.cli import display, progress
from src.domain.runs.entities import IngestRun
from src.domain.runs.progress import run_progress
from tests.support.paths import FIXTURES
from tests.support.processes import Workers, run_cli

human_bytes = progress.human_bytes

STARTED = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
RUN_ID = uuid.UUID("1a2b3c4d-0000-4000-8000-000000000000")


def a_run(status: str = "running", **columns: object) -> IngestRun:
    values: dict[str, object] = {
        "id": RUN_ID,
        "source": "/data/anac/big.jsonl",
        "status": status,
        "inserted": 900,
        "updated": 50,
        "unchanged": 48,
        "rejected": 2,
        "warnings": 0,
        "bytes_read": 10_000_000,
        "bytes_total": 40_000_000,
        "started_at": STARTED,
        "progress_at": STARTED + timedelta(seconds=10),
        "queued_at": STARTED,
        **columns,
    }
    return IngestRun(**values)


def test_rate_and_eta_come_from_the_row() -> None:
    shown = run_progress(a_run())
    assert shown.records == 1000
    assert shown.rate_per_second == 100.0, "1,000 records in the 10 s to the last write"
    assert shown.eta_seconds == 30.0, "30 MB to go at 1 MB/s"
    assert shown.fraction == 0.25


def test_a_running_line() -> None:
    assert progress.progress_line(a_run()) == (
        "run 1a2b3c4d running big.jsonl: 10.0 MB of 40.0 MB (25%), 1,000 records, "
        "100 records/s, 2 rejected, ETA 30 s"
    )


def test_a_finished_line_says_how_long() -> None:
    finished = a_run("complete", bytes_read=40_000_000, finished_at=STARTED + timedelta(seconds=65))
    assert progress.progress_line(finished) == (
        "run 1a2b3c4d complete big.jsonl: 40.0 MB of 40.0 MB (100%), 1,000 records, "
        "15 records/s, 2 rejected, in 1:05"
    )


def test_a_failed_line_ends_with_its_error_escaped() -> None:
    failed = a_run("failed", error="no reader for \x1b[2J this", finished_at=STARTED)
    line = progress.progress_line(failed)
    assert line.startswith("run 1a2b3c4d failed big.jsonl: 10.0 MB of 40.0 MB (25%)")
    assert line.endswith("; error: no reader for \\x1b[2J this")


def test_a_running_run_read_to_its_end_has_no_eta_and_no_duration() -> None:
    line = progress.progress_line(a_run(bytes_read=40_000_000))
    assert line.endswith("(100%), 1,000 records, 100 records/s, 2 rejected"), line


def test_unknown_total_and_queued_runs() -> None:
    unknown = progress.progress_line(a_run(bytes_total=None, bytes_read=3_250_000))
    assert "big.jsonl: 3.2 MB read, 1,000 records," in unknown and "ETA" not in unknown
    queued = a_run("queued", started_at=None, progress_at=None, bytes_read=0, bytes_total=None)
    assert progress.progress_line(queued) == "run 1a2b3c4d queued big.jsonl"
    assert run_progress(queued).rate_per_second is None


@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (12_345_678, "12.3 MB"), (10**13, "10.0 TB")],
)
def test_human_bytes(size: int, shown: str) -> None:
    assert progress.human_bytes(size) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0.4, "0 s"), (59.4, "59 s"), (65, "1:05"), (3723, "1:02:03")]
)
def test_human_seconds(seconds: float, shown: str) -> None:
    assert progress.human_seconds(seconds) == shown


def test_source_names() -> None:
    assert progress.source_name("https://dati.anticorruzione.it/ocds/2025.json?x=1") == "2025.json"
    assert progress.source_name("/data/cig.csv") == "cig.csv"
    assert progress.source_name("https://example.org") == "https://example.org"


def test_the_runs_table_shows_how_far_a_running_run_is() -> None:
    buffer = io.StringIO()
    runs = [a_run(), a_run(bytes_total=None), a_run("complete")]
    Console(file=buffer, width=400, color_system=None).print(display.runs_table(runs))
    shown = buffer.getvalue()
    assert "running 25%" in shown and "running 1,000 rec" in shown
    assert "complete " in shown


def test_the_runs_jsonl_keys() -> None:
    assert progress.progress_keys(a_run()) == {
        "records": 1000,
        "rate_per_second": 100.0,
        "eta_seconds": 30.0,
    }


def test_live_bars_on_a_terminal() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=True, color_system=None)
    bars = progress._display(console)
    assert isinstance(bars, progress._LiveBars)
    bars.show([a_run()])
    bars.close()
    shown = buffer.getvalue()
    assert "1a2b3c4d big.jsonl" in shown and "ETA 30 s" in shown
    plain = progress._display(Console(file=io.StringIO(), force_terminal=False))
    assert isinstance(plain, progress._PlainLines)


@pytest.mark.slow
def test_ingest_wait_follows_the_run_to_its_end(env: dict[str, str], tmp_path: Path) -> None:
    """Piped (not a terminal), `ingest --wait` prints plain progress lines on stderr, and
    exits as its run ended: 0 complete, 1 failed."""
    workers = Workers(env, tmp_path)
    workers.start()
    try:
        source = FIXTURES / "ocds" / "anac_two_procedures.json"
        done = run_cli(env, "ingest", str(source), "--wait", timeout=20)
        assert done.returncode == 0, done.stderr + workers.output()
        assert "queued job" in done.stdout
        size = human_bytes(source.stat().st_size)
        final = [line for line in done.stderr.splitlines() if " complete " in line]
        assert final and "anac_two_procedures.json: " in final[-1], done.stderr
        assert f"{size} of {size} (100%), 4 records, " in final[-1], done.stderr
        assert "\x1b" not in done.stderr, "plain lines, no terminal codes"

        not_tenders = tmp_path / "notes.txt"
        not_tenders.write_text("these are not tenders\n")
        failed = run_cli(env, "ingest", str(not_tenders), "--wait")
        assert failed.returncode == 1, failed.stderr + workers.output()
        [line] = [line for line in failed.stderr.splitlines() if " failed notes.txt" in line]
        assert "error: " in line, line
    finally:
        workers.stop_all()
