"""`tenders worker` as a supervisor runs it (keeps trying while a server is down, one line
per attempt) and `--burst` as a person runs it (a summary, exit 1 when a job failed)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES, ROOT
from tests.support.polling import wait_for
from tests.support.processes import run_cli
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

SAMPLE = FIXTURES / "eforms" / "cn_2lots_ita.xml"


def attempts_logged(env: dict[str, str], log: Path, count: int) -> list[str]:
    """Start a worker, wait until it has logged `count` lines, stop it: its log lines."""
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "src.cli", "worker"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: len(log.read_text().splitlines()) >= count, 60, f"{count} lines of {log}")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    return log.read_text().splitlines()[:count]


@pytest.mark.parametrize("server", ["Redis", "PostgreSQL"])
def test_the_worker_keeps_trying_an_unreachable_server(
    env: dict[str, str], tmp_path: Path, server: str
) -> None:
    port = free_port()
    if server == "Redis":
        down = {**env, "REDIS_URL": f"redis://:s3cret@127.0.0.1:{port}/0"}
    else:
        down = {**env, "DATABASE_URL": f"postgresql://tenders:s3cret@127.0.0.1:{port}/tenders"}
    lines = attempts_logged(down, tmp_path / "worker.log", 3)
    for attempt, (line, wait) in enumerate(zip(lines, (1, 2, 4), strict=True), start=1):
        assert f"{server} at 127.0.0.1:{port} is unreachable" in line, lines
        assert f"trying again in {wait} s (attempt {attempt})" in line, lines
        assert "s3cret" not in line
    assert not any("Traceback" in line for line in lines)


def test_burst_prints_a_summary_and_fails_when_a_job_failed(
    env: dict[str, str], tmp_path: Path
) -> None:
    good, gone = tmp_path / "good.xml", tmp_path / "gone.xml"
    for path in (good, gone):
        path.write_bytes(SAMPLE.read_bytes())
        assert run_cli(env, "ingest", str(path)).returncode == 0
    gone.unlink()
    burst = run_cli(env, "worker", "--burst")
    assert burst.returncode == 1, burst.stderr
    assert "2 ingest runs" in burst.stdout
    lines = burst.stdout.splitlines()
    [good_row] = [line for line in lines if "good.xml" in line]
    [gone_row] = [line for line in lines if "gone.xml" in line]
    assert "complete" in good_row and "failed" in gone_row, burst.stdout  # in either order
    failures = [line for line in burst.stderr.splitlines() if "failed:" in line]
    assert len(failures) == 1, burst.stderr
    assert "[run " in failures[0] and f"no such file: {gone}" in failures[0]
    assert "Traceback" not in burst.stderr
    assert burst.stderr.splitlines()[-1].startswith("error: run "), burst.stderr

    again = run_cli(env, "ingest", str(good))
    assert again.returncode == 0
    fine = run_cli(env, "worker", "--burst")
    assert fine.returncode == 0, fine.stderr
    assert "ingest of " in fine.stdout and "unchanged" in fine.stdout


def test_burst_with_a_server_down_stops_at_once(env: dict[str, str]) -> None:
    down = {**env, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/x"}
    burst = run_cli(down, "worker", "--burst")
    assert burst.returncode == 3
    [line] = burst.stderr.splitlines()
    assert line.startswith("error: PostgreSQL at 127.0.0.1:") and "unreachable" in line
