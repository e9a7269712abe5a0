"""The `tenders` command as a user runs it: real processes, real servers, captured output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.support.paths import FIXTURES, ROOT
from tests.support.polling import wait_for
from tests.support.processes import run_cli

pytestmark = pytest.mark.slow


def test_cli_run_twice_then_export(env: dict[str, str], tmp_path: Path) -> None:
    first = run_cli(env, "run")
    assert first.returncode == 0, first.stderr
    assert "inserted" in first.stdout and "complete" in first.stdout
    second = run_cli(env, "run")
    assert second.returncode == 0, second.stderr
    row = next(line for line in second.stdout.splitlines() if "complete" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[0] == "0" and cells[1] == "0" and int(cells[2]) > 0, second.stdout
    exported = run_cli(env, "export")
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.splitlines()
    assert len(lines) == int(cells[2])
    assert {"id", "cig", "procedure_id", "title", "amount", "deadline_at"} <= set(
        orjson.loads(lines[0])
    )
    assert run_cli(env, "export").stdout == exported.stdout, "the export order is stable"
    as_csv = run_cli(env, "export", "--format", "csv")
    assert as_csv.stdout.splitlines()[0].startswith("id,cig,procedure_id")


def test_feeds_and_db_commands(env: dict[str, str], tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/feed.json"
    refused = run_cli(env, "feeds", "add", url)
    assert refused.returncode != 0 and "loopback" in refused.stderr, refused.stderr
    outside = run_cli(env, "feeds", "add", str(tmp_path / "feed.json"))
    assert outside.returncode != 0 and "ALLOWED_SOURCE_DIRS" in outside.stderr + outside.stdout
    allowed = {**env, "ALLOW_PRIVATE_SOURCES": "true"}
    added = run_cli(allowed, "feeds", "add", url, "--interval", "600")
    assert added.returncode == 0, added.stderr
    assert "127.0.0.1:9" in run_cli(env, "feeds", "list").stdout
    assert run_cli(env, "feeds", "remove", url).returncode == 0
    assert "127.0.0.1:9" not in run_cli(env, "feeds", "list").stdout
    assert "head" in run_cli(env, "db", "current").stdout
    assert run_cli(env, "db", "upgrade").returncode == 0


def test_worker_check(env: dict[str, str]) -> None:
    assert run_cli(env, "worker", "--check").returncode == 1, "no worker is running"
    worker = subprocess.Popen(
        [sys.executable, "-m", "src.cli", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: run_cli(env, "worker", "--check").returncode == 0,
            30,
            "a running worker to answer --check",
        )
    finally:
        worker.terminate()
        assert worker.wait(timeout=30) == 0, "SIGTERM stops the worker cleanly"


def test_cli_history_changes_rejections_and_reprocess(env: dict[str, str], tmp_path: Path) -> None:
    eforms = FIXTURES / "eforms"
    for name in ("cn_2lots_ita.xml", "change-cn_2lots_ita.xml"):
        assert run_cli(env, "ingest", str(eforms / name)).returncode == 0
        assert run_cli(env, "worker", "--burst").returncode == 0
    changes = run_cli(env, "changes", "--since", "2000-01-01", "--format", "jsonl")
    assert changes.returncode == 0, changes.stderr
    rows = [orjson.loads(line) for line in changes.stdout.splitlines()]
    moved = [row for row in rows if row["field"] == "deadline_at"]
    assert moved, rows
    history = run_cli(env, "history", moved[0]["identity_key"])
    assert "deadline_at" in history.stdout, history.stdout
    latin = run_cli(
        env, "ingest", str(FIXTURES / "anac" / "cig_bulk_cp1252.csv"), "--encoding", "cp1252"
    )
    assert latin.returncode == 0
    assert run_cli(env, "worker", "--burst").returncode == 0
    runs = [orjson.loads(x) for x in run_cli(env, "runs", "--format", "jsonl").stdout.splitlines()]
    assert runs[0]["status"] == "complete", runs[0]
    rejected = run_cli(env, "rejections", runs[0]["id"])
    assert rejected.returncode == 0 and "0 rejections," in rejected.stdout
    bad_amount = tmp_path / "cig.csv"
    bad_amount.write_text("cig;oggetto_lotto;importo_lotto\n9000001A0B;Pulizie;n.d.\n")
    assert run_cli(env, "ingest", str(bad_amount)).returncode == 0
    assert run_cli(env, "worker", "--burst").returncode == 0
    runs = [orjson.loads(x) for x in run_cli(env, "runs", "--format", "jsonl").stdout.splitlines()]
    assert (runs[0]["inserted"], runs[0]["rejected"], runs[0]["warnings"]) == (1, 0, 1), runs[0]
    listed = run_cli(env, "rejections", runs[0]["id"], "--format", "jsonl")
    [warning] = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert (warning["kind"], warning["field"], warning["raw_value"]) == ("field", "amount", "n.d.")
    rebuilt = run_cli(env, "reprocess", "--source", "ted")
    assert rebuilt.returncode == 0, rebuilt.stderr
    # two notices (the CN and its change notice), each a publication of its 2 lots
    assert "0 updated, 4 unchanged" in rebuilt.stdout, rebuilt.stdout
