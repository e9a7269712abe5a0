"""`tenders worker --processes N` on real processes: N burst workers drain one queue (several
sources and a file split into chunks) with one summary; SIGTERM to the parent stops every
child gracefully; a child killed with SIGKILL is started again and its job runs again."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select

from configs.config import Settings
from src.domain.runs.entities import IngestChunk, IngestRun
from src.domain.tender.entities import Tender
from src.infra.database import create_engine, create_session_factory
from tests.support.db import enqueue_sources
from tests.support.paths import ROOT
from tests.support.polling import until, wait_for
from tests.support.processes import run_cli
from tests.support.sources import anac_source

pytestmark = pytest.mark.slow


async def _runs_and_tenders(url: str) -> tuple[list[IngestRun], int, list[str]]:
    engine = create_engine(Settings(database_url=url))
    try:
        async with create_session_factory(engine)() as session:
            runs = list((await session.scalars(select(IngestRun))).all())
            tenders = int(await session.scalar(select(func.count()).select_from(Tender)) or 0)
            chunks = list((await session.scalars(select(IngestChunk.status))).all())
    finally:
        await engine.dispose()
    return runs, tenders, chunks


@pytest.fixture
def parents() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Supervisors a test starts; at its end, they and their children are killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for parent in started:
        for process in _children(parent):
            with contextlib.suppress(psutil.Error):
                process.kill()
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)


def _supervisor(
    env: dict[str, str], log: Path, started: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        parent = subprocess.Popen(
            [sys.executable, "-m", "src.cli", "worker", "--processes", "2"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    started.append(parent)
    return parent


def _children(parent: subprocess.Popen[bytes]) -> list[psutil.Process]:
    try:
        return psutil.Process(parent.pid).children()
    except psutil.Error:
        return []


def test_processes_must_be_1_to_64(env: dict[str, str]) -> None:
    for bad in ("0", "65", "two", "-1"):
        refused = run_cli(env, "worker", "--processes", bad)
        assert refused.returncode == 2, refused.stderr
        [line] = refused.stderr.splitlines()
        assert line.startswith("error: --processes") and "from 1 to 64" in line


async def test_two_burst_processes_drain_sources_and_a_split_file(
    env: dict[str, str], fresh_database_url: str, tmp_path: Path
) -> None:
    split = {**env, "CHUNK_MIN_BYTES": "100000", "CHUNK_BYTES": "200000"}
    tenders = 0
    sources = []
    for index in range(3):
        sources.append(tmp_path / f"small-{index}.jsonl")
        tenders += anac_source(sources[-1], 100, first=index * 1000)
    sources.append(tmp_path / "big.jsonl")
    tenders += anac_source(sources[-1], 1500, first=10_000)
    assert sources[-1].stat().st_size > 4 * 200_000  # several chunks
    await enqueue_sources(split, *map(str, sources))

    burst = run_cli(split, "worker", "--processes", "2", "--burst", timeout=300)
    assert burst.returncode == 0, burst.stderr[-3000:]
    assert "4 ingest runs" in burst.stdout
    assert "[worker 1]" in burst.stderr and "[worker 2]" in burst.stderr
    assert "Traceback" not in burst.stderr
    runs, in_db, chunks = await _runs_and_tenders(fresh_database_url)
    assert len(runs) == 4 and {run.status for run in runs} == {"complete"}
    assert sum(run.inserted for run in runs) == in_db == tenders
    assert sum(run.rejected + run.unchanged + run.updated for run in runs) == 0
    assert len(chunks) >= 4 and set(chunks) == {"complete"}
    # each process ran chunks of the big file (a chunk's log line names its process)
    for number in (1, 2):
        assert any(
            f"[worker {number}]" in line and "of " + str(sources[-1]) + " done" in line
            for line in burst.stderr.splitlines()
        ), burst.stderr[-3000:]


async def _two_ingests_under_way(
    env: dict[str, str], url: str, tmp_path: Path, parents: list[subprocess.Popen[bytes]]
) -> tuple[subprocess.Popen[bytes], Path]:
    """A supervisor of 2 processes, one job each (WORKER_MAX_JOBS=1), both ingests running."""
    slow = {**env, "WORKER_MAX_JOBS": "1", "INGEST_BATCH_SIZE": "50", "JOB_KEEPALIVE_SECONDS": "5"}
    for index in range(2):
        anac_source(tmp_path / f"large-{index}.jsonl", 3000, first=index * 10_000)
    sources = [str(tmp_path / f"large-{index}.jsonl") for index in range(2)]
    await enqueue_sources(slow, *sources)
    log = tmp_path / "supervisor.log"
    parent = _supervisor(slow, log, parents)

    async def both_running() -> bool:
        runs, _, _ = await _runs_and_tenders(url)
        return len(runs) == 2 and all(
            run.status == "running" and run.records_done >= 100 for run in runs
        )

    await until(both_running, 90, "both ingests under way")
    return parent, log


async def test_sigterm_to_the_parent_stops_both_children_gracefully(
    env: dict[str, str],
    fresh_database_url: str,
    tmp_path: Path,
    parents: list[subprocess.Popen[bytes]],
) -> None:
    parent, log = await _two_ingests_under_way(env, fresh_database_url, tmp_path, parents)
    children = _children(parent)
    assert len(children) == 2
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert not any(child.is_running() and child.status() != "zombie" for child in children)
    runs, _, _ = await _runs_and_tenders(fresh_database_url)
    assert [run.status for run in runs] == ["queued", "queued"], log.read_text()[-3000:]
    assert all("interrupted" in (run.error or "") for run in runs)
    assert "starting it again" not in log.read_text()


async def test_a_child_killed_with_sigkill_is_started_again_and_its_job_runs_again(
    env: dict[str, str],
    fresh_database_url: str,
    tmp_path: Path,
    parents: list[subprocess.Popen[bytes]],
) -> None:
    parent, log = await _two_ingests_under_way(env, fresh_database_url, tmp_path, parents)
    [first, second] = _children(parent)
    first.kill()
    wait_for(lambda: "starting it again" in log.read_text(), 30, "the restart line")
    [line] = [line for line in log.read_text().splitlines() if "starting it again" in line]
    assert f"(pid {first.pid}) was killed by SIGKILL" in line and "in 1 s (restart 1)" in line
    wait_for(
        lambda: {child.pid for child in _children(parent)} - {second.pid} - {first.pid} != set(),
        30,
        "a new child",
    )

    async def both_complete() -> list[IngestRun] | None:
        runs, _, _ = await _runs_and_tenders(fresh_database_url)
        return runs if [run.status for run in runs] == ["complete", "complete"] else None

    runs = await until(both_complete, 180, "both runs to complete")
    assert runs is not None
    assert max(run.attempts for run in runs) >= 2, "the killed child's job ran again"
    _, in_db, _ = await _runs_and_tenders(fresh_database_url)
    assert in_db == sum(run.inserted for run in runs) == 12_000
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert len(_children(parent)) == 0
