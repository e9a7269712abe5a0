"""The real path, end to end: enqueue a source as a client does, run burst worker processes
until the queue is empty, and read what the runs say, with the workers' process figures."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.benchmarks.measure import (
    ProcessWatch,
    ServerWatch,
    WorkerStats,
    busy_share,
    first_child,
    machine_cpu,
)
from tests.benchmarks.project import RunFigures, ingest_client
from tests.support.polling import until
from tests.support.processes import Workers, deployed_worker_env
from tests.support.servers import Servers

SAMPLE_SECONDS = 0.05
SERVER_EVERY = 10  # worker samples between two samples of the server's processes


class IngestFailedError(RuntimeError):
    """The workers ran, but the runs did not complete; what was sampled is kept."""

    def __init__(self, message: str, workers: list[WorkerStats]) -> None:
        super().__init__(message)
        self.workers = workers


@dataclass
class IngestResult:
    seconds: float  # enqueue -> last finished_at
    job_seconds: float  # first started_at -> last finished_at
    rows: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    runs: int
    tenders_in_db: int
    machine_cpu_busy: float | None  # share of all cores busy during the run
    workers: list[WorkerStats]
    processes: int = 1  # worker processes (`worker --processes N` counts N)
    postgres_cpu_seconds: float | None = None  # a local server's, enqueue -> last worker exit

    @property
    def worker_cpu_seconds(self) -> float:
        return sum(w.cpu_seconds or 0.0 for w in self.workers)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    @property
    def job_rate(self) -> float:
        return self.rows / self.job_seconds

    @property
    def peak_rss_mb(self) -> float | None:
        peaks = [w.peak_rss_mb for w in self.workers if w.peak_rss_mb is not None]
        return max(peaks) if peaks else None


def ingest_detail(result: IngestResult) -> dict[str, Any]:
    """A result as the JSON report holds it: its fields and the figures made of them."""
    detail = asdict(result)
    detail["rows_per_second"] = result.rate
    detail["job_rows_per_second"] = result.job_rate
    detail["peak_rss_mb"] = result.peak_rss_mb
    detail["worker_cpu_seconds"] = result.worker_cpu_seconds
    return detail


async def ingest(
    servers: Servers,
    url: str,
    source: Path,
    *,
    workers: int = 1,
    processes: int = 1,
    logs: Path,
    label: str,
    timeout: float = 3600,
    wrap: Sequence[str] = (),
    env: dict[str, str] | None = None,
    postmaster: int | None = None,
) -> IngestResult:
    """Enqueue `source` with the project's enqueue, run `workers` burst workers (each
    `tenders worker --processes <processes> --burst`) until the queue is empty, and read what
    the runs say. Time: enqueue -> last run's finished_at. `env`: worker settings added to the
    deployed environment; `postmaster`: a local PostgreSQL whose CPU time is measured."""
    queue = f"bench:{uuid.uuid4().hex[:12]}"
    group = Workers({**deployed_worker_env(url, servers.redis_url, queue), **(env or {})}, logs)
    arguments = ("--burst", *(("--processes", str(processes)) if processes > 1 else ()))
    server = ServerWatch(postmaster, urlsplit(url).path.lstrip("/"))
    async with ingest_client(url, servers.redis_url, queue) as client:
        try:
            earlier = await client.run_ids()
            cpu_before = machine_cpu()
            server.sample()
            enqueued_at = time.time()
            if not await client.enqueue(str(source)):
                raise RuntimeError(f"{source} was already queued on {queue}")
            for index in range(workers):
                group.start(*arguments, log_name=f"{label}-w{index + 1}", wrap=wrap)
            stats = [
                WorkerStats(pid=process.pid, log=str(path))
                for process, path in zip(group.processes, group.log_paths, strict=True)
            ]
            await watch(group, stats, server, wrapped=bool(wrap), timeout=timeout, label=label)
            server.sample()
            busy = busy_share(cpu_before, machine_cpu())
            read_logs(group, stats, label)
            runs = await client.runs(excluding=earlier)
            in_db = await client.tenders()
        finally:
            group.stop_all()
    result = summarise(label, runs, stats, enqueued_at=enqueued_at, in_db=in_db, busy=busy)
    result.processes = workers * processes
    result.postgres_cpu_seconds = server.cpu_seconds()
    return result


async def watch(
    group: Workers,
    stats: list[WorkerStats],
    server: ServerWatch,
    *,
    wrapped: bool,
    timeout: float,
    label: str,
) -> None:
    """Sample every running worker (and now and then the server) until all have exited
    (bounded by `timeout`)."""
    deadline = time.monotonic() + timeout
    pids = [process.pid for process in group.processes]
    if wrapped:  # a wrapper (py-spy) runs the worker as its child: watch the child
        pids = await until(lambda: _children(group), 30, "the wrapper to start the worker")
    watches = [ProcessWatch(pid) for pid in pids]
    samples = 0
    while group.running():
        samples += 1
        if samples % SERVER_EVERY == 0:
            server.sample()
        if time.monotonic() > deadline:
            for process in group.processes:
                process.kill()
            raise TimeoutError(f"{label}: workers still running after {timeout:.0f} s")
        for process, watched, stat in zip(group.processes, watches, stats, strict=True):
            if process.poll() is None:
                watched.sample(stat)
        await asyncio.sleep(SAMPLE_SECONDS)  # the sampling period of this watch, not a wait


async def _children(group: Workers) -> list[int]:
    """The workers a wrapper runs; empty while a running wrapper has not started its child."""
    found = [(process, first_child(process.pid)) for process in group.processes]
    if any(child is None and process.poll() is None for process, child in found):
        return []
    return [child or process.pid for process, child in found]


def read_logs(group: Workers, stats: list[WorkerStats], label: str) -> None:
    """Exit codes and jobs started, from the exited workers; a failed worker is an error."""
    for process, stat in zip(group.processes, stats, strict=True):
        stat.returncode = process.returncode
        text = Path(stat.log).read_text(errors="replace")
        # arq logs "→ <job id>:<function>(...)" as it starts a job; ingest job ids
        # start with "ingest:" (the cron's do not).
        stat.jobs_started = text.count(" → ingest:")
        if process.returncode != 0:
            raise RuntimeError(
                f"{label}: worker exited {process.returncode}; its log ends:\n{text[-3000:]}"
            )


def summarise(
    label: str,
    runs: list[RunFigures],
    stats: list[WorkerStats],
    *,
    enqueued_at: float,
    in_db: int,
    busy: float | None,
) -> IngestResult:
    unfinished = [r for r in runs if r.status != "complete" or r.finished_at is None]
    if not runs or unfinished:
        details = "; ".join(f"{r.source}: {r.status} {r.error or ''}" for r in runs)
        tail = Path(stats[-1].log).read_text(errors="replace")[-3000:] if stats else ""
        raise IngestFailedError(
            f"{label}: runs did not complete: {details or 'no run row'}; "
            f"the last worker's log ends:\n{tail}",
            stats,
        )
    finished = max(r.finished_at for r in runs if r.finished_at is not None)
    started = min(r.started_at for r in runs if r.started_at is not None)
    inserted = sum(r.inserted for r in runs)
    updated = sum(r.updated for r in runs)
    unchanged = sum(r.unchanged for r in runs)
    return IngestResult(
        seconds=finished.timestamp() - enqueued_at,
        job_seconds=(finished - started).total_seconds(),
        rows=inserted + updated + unchanged,
        inserted=inserted,
        updated=updated,
        unchanged=unchanged,
        rejected=sum(r.rejected for r in runs),
        runs=len(runs),
        tenders_in_db=in_db,
        machine_cpu_busy=busy,
        workers=stats,
    )
