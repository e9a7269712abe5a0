"""`tenders servers` and `tenders stop` on embedded servers of the test's own (a temporary
DATA_DIR): `stop` starts nothing, `servers` prints URLs that work, `stop` stops them."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from tests.support.processes import run_cli

pytestmark = pytest.mark.slow

SERVER_VARIABLES = ("DATABASE_URL", "PRIMARY_DB_URL", "REDIS_URL")


def embedded_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVER_VARIABLES}
    return {**env, "DATA_DIR": str(data_dir), "COLUMNS": "80"}


async def test_servers_then_stop(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "data")
    nothing = run_cli(env, "stop")
    assert nothing.returncode == 0, nothing.stderr
    assert nothing.stdout.startswith("nothing to stop"), nothing.stdout
    assert not (tmp_path / "data" / "postgres").exists(), "stop started no server"

    try:
        listed = run_cli(env, "servers", timeout=180)
        assert listed.returncode == 0, listed.stderr
        urls = dict(shlex.split(line)[0].split("=", 1) for line in listed.stdout.splitlines())
        assert set(urls) == {"DATABASE_URL", "REDIS_URL"}, listed.stdout
        redis = Redis.from_url(urls["REDIS_URL"])
        try:
            assert await redis.ping()
        finally:
            await redis.aclose()
        url = make_url(urls["DATABASE_URL"])
        connection = await asyncpg.connect(
            user=url.username, database=url.database, host=str(url.query["host"])
        )
        assert await connection.fetchval("SELECT 1") == 1
        await connection.close()

        stopped = run_cli(env, "stop", timeout=180)
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout.startswith("stopped PostgreSQL"), stopped.stdout
        assert "stopped Redis" in stopped.stdout, stopped.stdout
    finally:
        run_cli(env, "stop", timeout=180)  # whatever failed, no server outlives the test
    again = run_cli(env, "stop")
    assert again.stdout.startswith("nothing to stop"), again.stdout


def test_servers_names_the_environment_s_own_without_its_password(tmp_path: Path) -> None:
    env = {
        **embedded_env(tmp_path / "data"),
        "DATABASE_URL": "postgresql://tenders:s3cret@db.example:5432/tenders",
        "REDIS_URL": "redis://:s3cret@redis.example:6379/0",
    }
    listed = run_cli(env, "servers")
    assert listed.returncode == 0, listed.stderr
    assert "s3cret" not in listed.stdout + listed.stderr
    assert "# DATABASE_URL is set in the environment: " in listed.stdout, listed.stdout
    assert "tenders:***@db.example:5432" in listed.stdout and ":***@redis.example" in listed.stdout
    assert not (tmp_path / "data").exists(), "no embedded server was started"
