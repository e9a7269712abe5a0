"""Worker processes (`tenders worker`) that tests and the benchmark start, kill and read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from arq.constants import health_check_key_suffix
from redis.asyncio import Redis

from tests.support.paths import ROOT


@dataclass
class Workers:
    """Worker processes (`tenders worker`) with explicit URLs; killed at the test's end."""

    env: dict[str, str]
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *arguments: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "src.cli", "worker", *arguments],
            cwd=ROOT,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def burst(self, timeout: float = 180, **env: str) -> None:
        process = self.start("--burst", **env)
        process.wait(timeout=timeout)
        assert process.returncode == 0, self.output()

    def output(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.logs.glob("worker-*.log"))
        )

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)


async def worker_polls(env: dict[str, str]) -> bool:
    """Whether a worker started with `env` is up and polling its queue (arq then keeps a
    health-check key in Redis)."""
    client = Redis.from_url(env["REDIS_URL"])
    try:
        return bool(await client.exists(env["QUEUE_NAME"] + health_check_key_suffix))
    finally:
        await client.aclose()


def worker_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "QUEUE_NAME": f"faults:{uuid.uuid4().hex[:8]}",
        "WORKER_POLL_DELAY": "0.05",
        "WORKER_RETRY_BACKOFF": "1.5",
        "JOB_KEEPALIVE_SECONDS": "5",
        "INGEST_BATCH_SIZE": "100",
        "CHUNK_MIN_BYTES": str(1 << 40),  # one job per source, unless a test splits
        "COLUMNS": "250",
        **extra,
    }
