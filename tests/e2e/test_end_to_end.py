"""The whole path on real processes: an arq client enqueues, a real worker process runs the
job, rows are in PostgreSQL; and the CLI as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from configs.config import Settings
from src.domain.runs.request import IngestRequest
from src.domain.tender.entities import Tender
from src.infra.database import create_engine, create_session_factory
from src.infra.queue import create_queue_pool
from src.ingest.enqueue import enqueue_ingest
from tests.support.paths import FIXTURES, ROOT
from tests.support.polling import wait_for
from tests.support.servers import Servers

pytestmark = pytest.mark.slow


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "src.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def env(servers: Servers, fresh_database_url: str) -> dict[str, str]:
    """A worker process's environment: explicit URLs, never servers of its own."""
    return {
        **os.environ,
        "DATABASE_URL": fresh_database_url,
        "REDIS_URL": servers.redis_url,
        "QUEUE_NAME": f"test:{uuid.uuid4().hex[:8]}",
        "WORKER_POLL_DELAY": "0.05",
        "COLUMNS": "250",
    }


async def test_enqueued_job_runs_in_a_real_worker(env: dict[str, str]) -> None:
    settings = Settings(
        database_url=env["DATABASE_URL"], redis_url=env["REDIS_URL"], queue_name=env["QUEUE_NAME"]
    )
    engine = create_engine(settings)
    pool = await create_queue_pool(settings)
    try:
        source = str(FIXTURES / "ocds" / "anac_two_procedures.json")
        first = await enqueue_ingest(pool, create_session_factory(engine), IngestRequest(source))
        duplicate = await enqueue_ingest(
            pool, create_session_factory(engine), IngestRequest(source)
        )
        assert first.created and not duplicate.created, "one source is queued once at a time"
        worker = cli(env, "worker", "--burst")
        assert worker.returncode == 0, worker.stderr
        async with create_session_factory(engine)() as session:
            assert await session.scalar(select(func.count()).select_from(Tender)) == 3
        # keep_result=0: the same source can be queued again as soon as it is done.
        again = await enqueue_ingest(pool, create_session_factory(engine), IngestRequest(source))
        assert again.created
        assert cli(env, "worker", "--burst").returncode == 0
        runs = cli(env, "runs", "--format", "jsonl")
        rows = [orjson.loads(line) for line in runs.stdout.splitlines()]
        assert [(r["status"], r["inserted"], r["unchanged"], r["rejected"]) for r in rows] == [
            ("complete", 0, 3, 1),
            ("complete", 3, 0, 1),
        ]
        assert {"id", "source", "error", "started_at", "finished_at", "updated"} <= set(rows[0])
    finally:
        await pool.aclose()
        await engine.dispose()


def test_cli_run_twice_then_export(env: dict[str, str], tmp_path: Path) -> None:
    first = cli(env, "run")
    assert first.returncode == 0, first.stderr
    assert "inserted" in first.stdout and "complete" in first.stdout
    second = cli(env, "run")
    assert second.returncode == 0, second.stderr
    row = next(line for line in second.stdout.splitlines() if "complete" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[0] == "0" and cells[1] == "0" and int(cells[2]) > 0, second.stdout
    exported = cli(env, "export")
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.splitlines()
    assert len(lines) == int(cells[2])
    assert {"id", "cig", "procedure_id", "title", "amount", "deadline_at"} <= set(
        orjson.loads(lines[0])
    )
    assert cli(env, "export").stdout == exported.stdout, "the export order is stable"
    as_csv = cli(env, "export", "--format", "csv")
    assert as_csv.stdout.splitlines()[0].startswith("id,cig,procedure_id")


def test_feeds_and_db_commands(env: dict[str, str], tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/feed.json"
    refused = cli(env, "feeds", "add", url)
    assert refused.returncode != 0 and "loopback" in refused.stderr, refused.stderr
    outside = cli(env, "feeds", "add", str(tmp_path / "feed.json"))
    assert outside.returncode != 0 and "ALLOWED_SOURCE_DIRS" in outside.stderr + outside.stdout
    allowed = {**env, "ALLOW_PRIVATE_SOURCES": "true"}
    added = cli(allowed, "feeds", "add", url, "--interval", "600")
    assert added.returncode == 0, added.stderr
    assert "127.0.0.1:9" in cli(env, "feeds", "list").stdout
    assert cli(env, "feeds", "remove", url).returncode == 0
    assert "127.0.0.1:9" not in cli(env, "feeds", "list").stdout
    assert "head" in cli(env, "db", "current").stdout
    assert cli(env, "db", "upgrade").returncode == 0


def test_worker_check(env: dict[str, str]) -> None:
    assert cli(env, "worker", "--check").returncode == 1, "no worker is running"
    worker = subprocess.Popen(
        [sys.executable, "-m", "src.cli", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: cli(env, "worker", "--check").returncode == 0,
            30,
            "a running worker to answer --check",
        )
    finally:
        worker.terminate()
        assert worker.wait(timeout=30) == 0, "SIGTERM stops the worker cleanly"


def test_cli_history_changes_rejections_and_reprocess(env: dict[str, str]) -> None:
    eforms = FIXTURES / "eforms"
    for name in ("cn_2lots_ita.xml", "change-cn_2lots_ita.xml"):
        assert cli(env, "ingest", str(eforms / name)).returncode == 0
        assert cli(env, "worker", "--burst").returncode == 0
    changes = cli(env, "changes", "--since", "2000-01-01", "--format", "jsonl")
    assert changes.returncode == 0, changes.stderr
    rows = [orjson.loads(line) for line in changes.stdout.splitlines()]
    moved = [row for row in rows if row["field"] == "deadline_at"]
    assert moved, rows
    history = cli(env, "history", moved[0]["identity_key"])
    assert "deadline_at" in history.stdout, history.stdout
    latin = cli(
        env, "ingest", str(FIXTURES / "anac" / "cig_bulk_cp1252.csv"), "--encoding", "cp1252"
    )
    assert latin.returncode == 0
    assert cli(env, "worker", "--burst").returncode == 0
    runs = [orjson.loads(x) for x in cli(env, "runs", "--format", "jsonl").stdout.splitlines()]
    assert runs[0]["status"] == "complete", runs[0]
    rejected = cli(env, "rejections", runs[0]["id"])
    assert rejected.returncode == 0 and "rejections of run" in rejected.stdout
    rebuilt = cli(env, "reprocess", "--source", "ted")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "2 unchanged" in rebuilt.stdout, rebuilt.stdout
