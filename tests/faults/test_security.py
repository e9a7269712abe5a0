"""Job payloads are JSON only; passwords never reach logs, reprs, errors or CLI output."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from arq.constants import job_key_prefix
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from configs.config import Settings
from src.infra.queue import redis_settings
from tests.support.paths import FIXTURES, ROOT
from tests.support.processes import Workers, worker_env
from tests.support.servers import PrivateRedis, Servers, admin, free_port

pytestmark = pytest.mark.slow

DB_PASSWORD = "Db-Pa55-must-not-leak"
REDIS_PASSWORD = "Rd-Pa55-must-not-leak"


class Exploit:
    """What a pickled payload would run when unpickled: it would create a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


async def test_a_pickled_payload_in_redis_is_refused_not_executed(
    servers: Servers,
    fresh_database_url: str,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    marker = tmp_path / "pwned"
    env = worker_env(fresh_database_url, servers.redis_url)
    job_id = f"evil-{uuid.uuid4().hex}"
    payload = pickle.dumps(
        {
            "t": 1,
            "f": "ingest_source",
            "a": [Exploit(marker)],
            "k": {},
            "et": int(time.time() * 1000),
        }
    )
    redis: Redis = Redis.from_url(servers.redis_url)
    try:
        await redis.psetex(job_key_prefix + job_id, 60_000, payload)
        await redis.zadd(env["QUEUE_NAME"], {job_id: int(time.time() * 1000)})
        group = workers(env)
        group.burst(timeout=60, failed=True)
    finally:
        await redis.delete(job_key_prefix + job_id, env["QUEUE_NAME"])
        await redis.aclose()
    assert not marker.exists(), "the pickled payload was executed"
    assert "deserializ" in group.output().lower()


def test_redis_settings_repr_hides_the_password() -> None:
    settings = Settings(
        database_url="postgresql://u:p@h/d",
        redis_url=f"rediss://:{REDIS_PASSWORD}@cache.example:6380/2",
        redis_ssl_ca_certs="/etc/ssl/ca.pem",
    )
    shown = repr(redis_settings(settings)) + str(redis_settings(settings)) + repr(settings)
    assert REDIS_PASSWORD not in shown
    assert redis_settings(settings).ssl and redis_settings(settings).ssl_ca_certs


async def test_passwords_never_appear_in_any_output(
    servers: Servers, fresh_database_url: str, tmp_path: Path
) -> None:
    role = f"leak_{uuid.uuid4().hex[:8]}"
    await admin(servers, f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{DB_PASSWORD}'")
    redis = PrivateRedis(free_port(), tmp_path, password=REDIS_PASSWORD)
    redis.start()
    try:
        database_url = (
            make_url(fresh_database_url)
            .set(username=role, password=DB_PASSWORD)
            .render_as_string(hide_password=False)
        )
        env = worker_env(database_url, redis.url)
        bad_env = {
            **env,
            "DATABASE_URL": make_url(database_url)
            .set(database="no_such_database")
            .render_as_string(hide_password=False),
        }
        wrong_redis = {**env, "REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:9/0"}
        commands = [
            (env, ["run", str(FIXTURES / "ocds" / "anac_two_procedures.json")]),
            (env, ["runs"]),
            (env, ["runs", "--format", "jsonl"]),
            (env, ["export"]),
            (env, ["worker", "--check"]),
            (env, ["-v", "db", "current"]),
            (bad_env, ["runs"]),
            (bad_env, ["-v", "ingest", "x.json"]),
            (wrong_redis, ["ingest", str(FIXTURES / "ocds" / "releases.jsonl")]),
        ]
        outputs = []
        for command_env, arguments in commands:
            done = subprocess.run(
                [sys.executable, "-m", "src.cli", *arguments],
                cwd=ROOT,
                env=command_env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            outputs.append(
                f"$ {' '.join(arguments)} -> {done.returncode}\n{done.stdout}{done.stderr}"
            )
        everything = "\n".join(outputs)
        assert "complete" in outputs[0], outputs[0]
        assert "no_such_database" in everything or "does not exist" in everything
        assert DB_PASSWORD not in everything, everything
        assert REDIS_PASSWORD not in everything, everything
    finally:
        redis.stop()
        await admin(servers, f"DROP ROLE IF EXISTS {role}")
