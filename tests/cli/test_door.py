"""Mistakes caught at the door: `tenders ingest` refuses what the worker could not read, in
one line on stderr with an exit code, and queues nothing; expected failures of the servers
and the settings are one line too, never a traceback (unless asked for)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from tests.support.paths import FIXTURES
from tests.support.processes import run_cli
from tests.support.servers import Servers, admin, free_port

pytestmark = pytest.mark.slow

SAMPLE = FIXTURES / "eforms" / "cn_2lots_ita.xml"


def one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The single line a failed command printed on stderr (checked: nothing else)."""
    lines = result.stderr.splitlines()
    assert result.returncode == code, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


async def queued(env: dict[str, str]) -> int:
    client = Redis.from_url(env["REDIS_URL"])
    try:
        return int(await client.zcard(env["QUEUE_NAME"]))
    finally:
        await client.aclose()


def runs(env: dict[str, str]) -> list[dict[str, object]]:
    listed = run_cli(env, "runs", "--format", "jsonl")
    assert listed.returncode == 0, listed.stderr
    return [orjson.loads(line) for line in listed.stdout.splitlines()]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    copy = tmp_path / "notice.xml"
    copy.write_bytes(SAMPLE.read_bytes())
    return copy


async def test_ingest_refuses_what_the_worker_could_not_read(
    env: dict[str, str], tmp_path: Path, source: Path
) -> None:
    cases = [
        ((str(tmp_path / "missing.json"),), "no such file"),
        ((str(tmp_path),), "is a directory"),
        ((str(source), "--format", "xml"), "unknown format 'xml'; known: ocds"),
        ((str(source), "--encoding", "klingon"), "unknown encoding 'klingon'"),
        (("https://feeds.example.invalid/x.json",), "feeds.example.invalid cannot be resolved"),
        (("gopher://x/y",), "gopher: sources are not read"),
    ]
    for arguments, reason in cases:
        line = one_error_line(run_cli(env, "ingest", *arguments), 2)
        assert reason in line, (arguments, line)
    assert await queued(env) == 0, "nothing was queued"
    assert runs(env) == [], "no run row was written"
    accepted = run_cli(env, "ingest", str(source))
    assert accepted.returncode == 0, accepted.stderr
    [run] = runs(env)
    assert accepted.stdout.strip() == f"queued job {run['job_id']} (run {run['id']})"
    assert accepted.stderr == "", "no warning noise on a normal command"
    assert await queued(env) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_a_file_without_read_permission(env: dict[str, str], source: Path) -> None:
    source.chmod(0)
    line = one_error_line(run_cli(env, "ingest", str(source)), 2)
    assert f"no permission to read {source}" in line


@pytest.fixture
async def empty_database(servers: Servers) -> AsyncIterator[str]:
    """A database that exists but was never migrated."""
    name = f"tenders_empty_{uuid.uuid4().hex[:10]}"
    await admin(servers, f'CREATE DATABASE "{name}"')
    yield servers.database(name)
    await admin(servers, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_database_that_cannot_take_the_run_row_queues_nothing(
    env: dict[str, str], servers: Servers, empty_database: str, source: Path
) -> None:
    missing = servers.database(f"tenders_missing_{uuid.uuid4().hex[:8]}")
    cases = [
        (missing, 2, "does not exist on PostgreSQL at"),
        (empty_database, 2, "is not migrated (relation"),
        (f"postgresql://postgres@127.0.0.1:{free_port()}/x", 3, "is unreachable"),
    ]
    for url, code, reason in cases:
        line = one_error_line(run_cli({**env, "DATABASE_URL": url}, "ingest", str(source)), code)
        assert reason in line, line
    assert "run `tenders db upgrade`" in one_error_line(
        run_cli({**env, "DATABASE_URL": empty_database}, "runs"), 2
    )
    assert await queued(env) == 0, "the job was not queued without its run row"


def test_a_worker_on_a_database_not_migrated_says_so(
    env: dict[str, str], empty_database: str
) -> None:
    """A burst worker stops at once with the line `tenders ingest` prints, not with the
    traceback of its first query."""
    burst = run_cli({**env, "DATABASE_URL": empty_database}, "worker", "--burst")
    line = one_error_line(burst, 2)
    assert "is not migrated (relation" in line and "run `tenders db upgrade`" in line, line
    assert "Traceback" not in burst.stdout + burst.stderr


def test_unreachable_servers_and_bad_settings_are_one_line(
    env: dict[str, str], source: Path
) -> None:
    port = free_port()
    redis_down = {**env, "REDIS_URL": f"redis://:s3cret@127.0.0.1:{port}/0"}
    line = one_error_line(run_cli(redis_down, "ingest", str(source)), 3)
    assert f"Redis at 127.0.0.1:{port} is unreachable" in line and "s3cret" not in line
    check = one_error_line(run_cli(redis_down, "worker", "--check"), 3)
    assert "REDIS_URL" in check
    role = run_cli(
        {**env, "DATABASE_URL": env["DATABASE_URL"].replace("postgres@", "nobody@")}, "runs"
    )
    assert "refused the login" in one_error_line(role, 2)
    line = one_error_line(run_cli({**env, "WORKER_MAX_JOBS": "many"}, "runs"), 2)
    assert "WORKER_MAX_JOBS" in line and "e.g. WORKER_MAX_JOBS=2" in line and "many" not in line
    line = one_error_line(run_cli({**env, "CRON_MINUTES": "[0,"}, "runs"), 2)
    assert "CRON_MINUTES" in line and "e.g. CRON_MINUTES=[0, 15, 30, 45]" in line


def test_verbose_and_debug_add_the_traceback(env: dict[str, str], servers: Servers) -> None:
    missing = {**env, "DATABASE_URL": servers.database("tenders_missing_x")}
    for arguments, extra in ((("-v", "runs"), {}), (("runs",), {"DEBUG": "true"})):
        shown = run_cli({**missing, **extra}, *arguments)
        assert shown.returncode == 2
        assert "Traceback" in shown.stderr, shown.stderr
        assert shown.stderr.splitlines()[-1].startswith("error: the database"), shown.stderr


def test_allowed_source_dirs_as_a_plain_path(env: dict[str, str], tmp_path: Path) -> None:
    """ALLOWED_SOURCE_DIRS=/data used to crash every command with a parsing traceback."""
    plain = {**env, "ALLOWED_SOURCE_DIRS": f"{tmp_path}{os.pathsep}/nonexistent"}
    feed = tmp_path / "feed.json"
    feed.write_text("[]")
    added = run_cli(plain, "feeds", "add", str(feed))
    assert added.returncode == 0, added.stderr
    refused = one_error_line(run_cli(env, "feeds", "add", str(feed)), 2)
    assert "ALLOWED_SOURCE_DIRS is not set" in refused and "http" not in refused


def test_help_starts_no_server(env: dict[str, str], tmp_path: Path) -> None:
    """No DATABASE_URL / REDIS_URL: a command would start the embedded servers under
    DATA_DIR; asking for help must not."""
    bare = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    bare["DATA_DIR"] = str(tmp_path / "data")
    for arguments in (
        ("--help",),
        ("ingest", "--help"),
        ("worker", "--help"),
        ("feeds",),
        ("feeds", "add", "--help"),
        ("db", "upgrade", "--help"),
    ):
        shown = run_cli(bare, *arguments)
        # a group named alone shows its help and exits 2 (click's usage error code)
        assert shown.returncode == (2 if arguments == ("feeds",) else 0), (arguments, shown)
        assert "Usage" in shown.stdout, arguments
        assert "<bool>" not in shown.stdout, shown.stdout
        assert shown.stderr == "", (arguments, shown.stderr)
    assert not (tmp_path / "data").exists(), "a server was started for --help"


def test_the_runtime_dir_warning_is_silenced(tmp_path: Path) -> None:
    """pgserver's import warns when XDG_RUNTIME_DIR is unset (platformdirs falls back to
    /tmp/runtime-<uid>, which works): with warnings as errors, the import still passes."""
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    code = "from src.infra.embedded import _import_pgserver; _import_pgserver()"
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_ingest_output_is_one_line_when_piped(env: dict[str, str], source: Path) -> None:
    narrow = {**env, "COLUMNS": "40"}
    accepted = run_cli(narrow, "ingest", str(source))
    assert accepted.returncode == 0, accepted.stderr
    assert len(accepted.stdout.splitlines()) == 1, accepted.stdout
