"""The real path, end to end: start the worker processes and wait until they poll their
queue (their start-up is timed apart), enqueue a source as a client does, and read what the
runs say once they are complete, with the workers' process figures from the enqueue on.
Under a profiler (`wrap`) the workers are burst workers started after the enqueue."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.benchmarks.measure import (
    ProcessWatch,
    ServerWatch,
    WalWatch,
    WorkerStats,
    busy_share,
    first_child,
    machine_cpu,
)
from tests.benchmarks.project import IngestClient, RunFigures, ingest_client
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
    postgres_cpu_seconds: float | None = None  # a local server's, enqueue -> last run's end
    startup_seconds: float | None = None  # workers started -> all polling (not in `seconds`)
    wal_bytes: int | None = None  # the server's WAL, enqueue -> the runs' end (every database)

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
    settled: Callable[[], Awaitable[bool]] | None = None,
) -> IngestResult:
    """Start `workers` worker processes (each `tenders worker [--processes <processes>]`),
    wait until they poll, enqueue `source` with the project's enqueue, and wait until its
    runs are complete; then stop the workers. Time: enqueue -> last run's finished_at.
    `wrap` (a profiler): burst workers started after the enqueue instead. `env`: worker
    settings added to the deployed environment; `postmaster`: a local PostgreSQL whose CPU
    time is measured; `settled`: what else must be done before the workers are stopped
    (the alerts of the runs sent)."""
    queue = f"bench:{uuid.uuid4().hex[:12]}"
    group = Workers({**deployed_worker_env(url, servers.redis_url, queue), **(env or {})}, logs)
    warm = not wrap
    arguments = (
        *(() if warm else ("--burst",)),
        *(("--processes", str(processes)) if processes > 1 else ()),
    )
    server = ServerWatch(postmaster, urlsplit(url).path.lstrip("/"))
    wal = WalWatch(url)
    startup = None
    async with ingest_client(url, servers.redis_url, queue) as client:
        try:
            earlier = await client.run_ids()
            if warm:
                startup = await _start_warm(group, arguments, workers, processes, label)
            watches, stats = _watched(group) if warm else ([], [])
            cpu_before = machine_cpu()
            server.sample()
            await wal.start()
            enqueued_at = time.time()
            if not await client.enqueue(str(source)):
                raise RuntimeError(f"{source} was already queued on {queue}")
            if not warm:
                for index in range(workers):
                    group.start(*arguments, log_name=f"{label}-w{index + 1}", wrap=wrap)
                watches, stats = _watched(group, wrapped=True)
            finished = partial(_runs_ended, client, earlier, settled) if warm else None
            await watch(group, stats, server, watches, timeout=timeout, label=label, done=finished)
            server.sample()
            wal_bytes = await wal.written()
            busy = busy_share(cpu_before, machine_cpu())
            if warm:
                group.terminate_all()
            read_logs(group, stats, label)
            runs = await client.runs(excluding=earlier)
            in_db = await client.tenders()
        finally:
            group.stop_all()
    result = summarise(label, runs, stats, enqueued_at=enqueued_at, in_db=in_db, busy=busy)
    result.processes = workers * processes
    result.postgres_cpu_seconds = server.cpu_seconds()
    result.startup_seconds = startup
    result.wal_bytes = wal_bytes
    return result


async def _start_warm(
    group: Workers, arguments: Sequence[str], workers: int, processes: int, label: str
) -> float:
    """Start the workers; the seconds until every worker process polls its queue."""
    started = time.monotonic()
    for index in range(workers):
        group.start(*arguments, log_name=f"{label}-w{index + 1}")

    async def ready() -> bool:
        if not group.running():
            raise RuntimeError(f"{label}: a worker exited at start-up:\n{group.output()}")
        logs = [path.read_text(errors="replace") for path in group.log_paths]
        return all(text.count(READY_LINE) >= processes for text in logs)

    await until(ready, 120, f"{label}: the workers to start")
    return time.monotonic() - started


# What a worker process logs once it polls its queue.
READY_LINE = "worker started (queue"


def _watched(
    group: Workers, *, wrapped: bool = False
) -> tuple[list[ProcessWatch], list[WorkerStats]]:
    """A watch and stats per worker, with the CPU they have spent so far as a baseline: the
    figures count from here (a warm worker's start-up is not in them)."""
    stats = [
        WorkerStats(pid=process.pid, log=str(path))
        for process, path in zip(group.processes, group.log_paths, strict=True)
    ]
    if wrapped:
        return [], stats  # the wrapper's child is found by `watch`
    watches = [ProcessWatch(process.pid) for process in group.processes]
    for watched in watches:
        watched.baseline()
    return watches, stats


async def _runs_ended(
    client: IngestClient,
    earlier: set[uuid.UUID],
    settled: Callable[[], Awaitable[bool]] | None,
) -> bool:
    runs = await client.runs(excluding=earlier)
    ended = bool(runs) and all(r.status in ("complete", "failed") for r in runs)
    return ended and (settled is None or await settled())


async def watch(
    group: Workers,
    stats: list[WorkerStats],
    server: ServerWatch,
    watches: list[ProcessWatch],
    *,
    timeout: float,
    label: str,
    done: Callable[[], Awaitable[bool]] | None = None,
) -> None:
    """Sample every running worker (and now and then the server) until all have exited, or
    until `done` says so (asked every few samples), bounded by `timeout`. Without watches,
    the workers run under a wrapper (py-spy): their children are watched."""
    deadline = time.monotonic() + timeout
    if not watches:
        pids = await until(lambda: _children(group), 30, "the wrapper to start the worker")
        watches = [ProcessWatch(pid) for pid in pids]
    samples = 0
    while group.running():
        samples += 1
        if samples % SERVER_EVERY == 0:
            server.sample()
            if done is not None and await done():
                break
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
