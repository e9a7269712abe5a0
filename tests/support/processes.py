"""Worker processes (`tenders worker`) that tests and the benchmark start, kill and read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
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
    log_paths: list[Path] = field(default_factory=list)  # one per process, in start order

    def start(
        self, *arguments: str, log_name: str = "", wrap: Sequence[str] = (), **env: str
    ) -> subprocess.Popen[bytes]:
        """One worker, its output to `<log_name>.log` (`worker-<n>.log` by default) under
        `logs`; `wrap` is a command that runs it as its child (a profiler)."""
        log_path = self.logs / f"{log_name or f'worker-{len(self.processes)}'}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*wrap, sys.executable, "-m", "src.cli", "worker", *arguments],
                cwd=ROOT,
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        self.log_paths.append(log_path)
        return process

    def burst(self, timeout: float = 180, *, failed: bool = False, **env: str) -> None:
        """A burst worker to the end: it exits 1 when a job it ran failed (`failed`)."""
        process = self.start("--burst", **env)
        process.wait(timeout=timeout)
        assert process.returncode == (1 if failed else 0), self.output()

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.log_paths))

    def running(self) -> bool:
        return any(process.poll() is None for process in self.processes)

    def terminate_all(self, timeout: float = 60) -> None:
        """Stop every worker as an operator does (SIGTERM: the jobs running end first)."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.wait(timeout=timeout)

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


def deployed_worker_env(database_url: str, redis_url: str, queue: str) -> dict[str, str]:
    """A worker's environment as deployed (the benchmark's): the caller's, less the test and
    benchmark settings (TEST_*, BENCH_*), with the servers and the queue; no test tuning."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BENCH_", "TEST_"))}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, QUEUE_NAME=queue)
    return env


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "src.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
