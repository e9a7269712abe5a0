"""`tenders worker`: a long-running worker that waits out its servers, a burst worker that
says what it ran, and the health check.

A supervisor (systemd, compose, Kubernetes) expects a worker whose PostgreSQL or Redis is not
up yet (or whose database is not migrated yet) to keep trying rather than exit: it does, one
line per attempt saying which server and where, waiting longer each time up to a minute. A
burst worker is a one-off command: it stops at once when a server is unreachable (exit 3) or
the database is not migrated (exit 2), and exits 1 when a job it ran failed."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import redis.exceptions
from rich.console import Console
from rich.table import Table
from sqlalchemy import select, text

from configs.config import Settings
from src.cli import progress
from src.cli.display import cell
from src.cli.errors import (
    EXIT_FAILED,
    EXIT_UNREACHABLE,
    CliError,
    database_error,
    redis_error,
    redis_errors,
)
from src.domain.runs.entities import IngestRun
from src.infra.database import create_engine, create_session_factory
from src.infra.queue import create_queue_pool, redis_settings
from src.ingest.outcome import one_line

log = logging.getLogger("tenders.worker")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

BACKOFF_MAX_SECONDS = 60.0
PROBE_SECONDS = 10.0  # a server that does not answer within this long counts as down
# A worker that ran this long before it lost a server starts its backoff over.
STEADY_SECONDS = 60.0
# In the environment of each process `tenders worker --processes N` starts: the parent's pid.
PARENT_ENV = "TENDERS_WORKER_PARENT"


def backoff_delays(first: float = 1.0) -> Iterator[float]:
    """1, 2, 4, ... seconds, then a minute each time."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, BACKOFF_MAX_SECONDS)


# Reads a table of the worker's: a database not migrated is told apart from one that is up.
_PROBE = text("SELECT 1 FROM ingest_runs LIMIT 0")


async def not_ready(settings: Settings) -> CliError | None:
    """Why the worker cannot start now (which server, where, what it said; or a database
    not migrated), with its exit code; or None."""
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            pool = await create_queue_pool(settings, conn_retries=0)
            await pool.aclose()
    except Exception as error:  # noqa: BLE001 - told apart below
        explained = redis_error(error, settings)
        return explained or CliError(f"Redis: {type(error).__name__}: {error}", EXIT_UNREACHABLE)
    engine = create_engine(settings)
    try:
        async with asyncio.timeout(PROBE_SECONDS), engine.connect() as connection:
            await connection.execute(_PROBE)
    except Exception as error:  # noqa: BLE001 - told apart below
        explained = database_error(error, settings)
        unknown = f"PostgreSQL: {type(error).__name__}: {error}"
        return explained or CliError(unknown, EXIT_UNREACHABLE)
    finally:
        await engine.dispose()
    return None


# What a worker's Redis going away raises out of arq's poll. A WatchError is among them:
# redis-py raises it for a connection lost while arq's poll watches a job's key (arq itself
# handles the WatchError of a transaction that lost a race, around its execute).
_LOST_REDIS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.WatchError,
    OSError,
)


async def run_forever(settings: Settings) -> None:
    """Run the worker until a signal stops it; while a server is unreachable (at start, or
    lost later), try again with a growing wait."""
    from workers.main import create_worker

    delays = backoff_delays()
    attempt = 0
    while True:
        problem = await not_ready(settings)
        if problem is not None:
            attempt += 1
            delay = next(delays)
            log.warning("%s; trying again in %.0f s (attempt %d)", problem, delay, attempt)
            await asyncio.sleep(delay)
            continue
        worker = create_worker(settings, redis_settings=redis_settings(settings, conn_retries=0))
        started = time.monotonic()
        try:
            await worker.async_run()
        except asyncio.CancelledError:  # SIGINT / SIGTERM: arq has shut down gracefully
            pass
        except _LOST_REDIS as error:
            log.warning("the worker lost Redis (%s: %s); reconnecting", type(error).__name__, error)
            await close_quietly(worker)
            if time.monotonic() - started > STEADY_SECONDS:
                delays, attempt = backoff_delays(), 0
            continue
        await close_quietly(worker)
        return


async def close_quietly(worker: Any) -> None:
    """Close a worker whose Redis may be gone: its shutdown hook must still run."""
    try:
        await worker.close()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as error:
        log.warning("worker closed without Redis (%s)", error)
        on_shutdown = worker.on_shutdown
        if on_shutdown is not None:
            await on_shutdown(worker.ctx)


async def run_burst(settings: Settings) -> int:
    """Run the jobs queued now, then print what each ingest run came to; 1 when a job
    failed, 3 when a server is unreachable."""
    from workers.context import jobs_ran
    from workers.main import create_worker

    problem = await not_ready(settings)
    if problem is not None:
        raise problem
    worker = create_worker(
        settings, burst=True, redis_settings=redis_settings(settings, conn_retries=0)
    )
    ran = jobs_ran(worker.ctx)
    engine = create_engine(settings)
    try:
        async with progress.watching(create_session_factory(engine), running=True):
            await worker.async_run()  # with the progress of every running run shown
    finally:
        await close_quietly(worker)
        await engine.dispose()
    return await report_runs(settings, ran, failed=worker.jobs_failed > 0)


async def report_runs(settings: Settings, job_ids: Sequence[str], *, failed: bool) -> int:
    """The end of a burst: the summary of the runs these jobs ran, an error line for each
    failed one; 1 when a job (`failed`) or a run failed."""
    runs = sorted(await runs_of(settings, job_ids), key=lambda run: run.started_at or run.queued_at)
    if runs:
        out.print(summary_table(runs))
    for run in runs:
        if run.error:
            err.print(cell(f"error: run {run.id}: {one_line(run.error)}"))
    failed = failed or any(run.status == "failed" for run in runs)
    return EXIT_FAILED if failed else 0


# --- one of the processes of `tenders worker --processes N` (see src.cli.supervisor) ---------


async def run_burst_child(settings: Settings, jobs_file: Path) -> int:
    """A burst worker whose supervisor prints the summary: no progress, no table; the ids of
    the jobs it started go to `jobs_file` (every second, so a killed child loses little).
    Exit 1 when a job failed."""
    from workers.context import jobs_ran
    from workers.main import create_worker

    worker = create_worker(
        settings, burst=True, redis_settings=redis_settings(settings, conn_retries=0)
    )
    ran = jobs_ran(worker.ctx)
    writer = asyncio.create_task(_keep_writing(ran, jobs_file))
    try:
        async with stopped_when_orphaned():
            await worker.async_run()
    except asyncio.CancelledError:  # SIGINT / SIGTERM: arq has shut down gracefully
        pass
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        write_job_ids(ran, jobs_file)
        await close_quietly(worker)
    return EXIT_FAILED if worker.jobs_failed > 0 else 0


def write_job_ids(job_ids: Sequence[str], path: Path) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(list(job_ids)))
    partial.replace(path)


def read_job_ids(path: Path) -> list[str]:
    """What a child wrote; nothing when it died before its first write."""
    try:
        ids = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [str(job_id) for job_id in ids] if isinstance(ids, list) else []


async def _keep_writing(job_ids: Sequence[str], path: Path) -> None:
    while True:
        write_job_ids(job_ids, path)
        await asyncio.sleep(1)


@asynccontextmanager
async def stopped_when_orphaned() -> AsyncIterator[None]:
    """A child of `tenders worker --processes N` (PARENT_ENV holds the supervisor's pid)
    stops gracefully, as on SIGTERM, when its supervisor is gone (killed with SIGKILL): it
    runs in a process group of its own, so nothing else would stop it."""
    parent = os.environ.get(PARENT_ENV, "")
    if not parent.isdigit():
        yield
        return
    watch = asyncio.create_task(_watch_parent(int(parent)))
    try:
        yield
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)


async def _watch_parent(pid: int) -> None:
    # No event tells a process that its parent died: it looks, every second.
    while os.getppid() == pid:  # noqa: ASYNC110
        await asyncio.sleep(1)
    log.warning("the supervising process %d is gone: stopping", pid)
    os.kill(os.getpid(), signal.SIGTERM)


async def runs_of(settings: Settings, job_ids: Sequence[str]) -> list[IngestRun]:
    """The latest run of each job, in the order the jobs started (chunk jobs have none)."""
    if not job_ids:
        return []
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            rows = (
                await session.execute(
                    select(IngestRun)
                    .where(IngestRun.job_id.in_(set(job_ids)))
                    .order_by(IngestRun.queued_at.desc())
                )
            ).scalars()
            latest: dict[str, IngestRun] = {}
            for run in rows:
                latest.setdefault(run.job_id or "", run)
    finally:
        await engine.dispose()
    ordered = dict.fromkeys(job_ids)
    return [latest[job_id] for job_id in ordered if job_id in latest]


def short_source(source: str, width: int = 32) -> str:
    """The end of a long location (its file name) with an ellipsis before it: one line."""
    return source if len(source) <= width else "…" + source[-(width - 1) :]


def run_seconds(run: IngestRun) -> float:
    if run.started_at is None or run.finished_at is None:
        return 0.0
    return max(0.0, (run.finished_at - run.started_at).total_seconds())


def summary_table(
    runs: Sequence[IngestRun], *, title: str | None = None, seconds: float | None = None
) -> Table:
    """What `tenders run` and `tenders worker --burst` end with: a run's counts, status and
    seconds; with several runs, one row each, led by its source."""
    several = len(runs) > 1
    if title is None:
        title = f"{len(runs)} ingest runs" if several else f"ingest of {runs[0].source}"
    table = Table(title=cell(title))
    if several:
        table.add_column("source", no_wrap=True)
    for column in ("inserted", "updated", "unchanged", "rejected", "status", "seconds"):
        table.add_column(column, justify="right")
    for run in runs:
        took = seconds if seconds is not None and not several else run_seconds(run)
        row = [
            str(run.inserted),
            str(run.updated),
            str(run.unchanged),
            str(run.rejected),
            run.status,
            f"{took:.1f}",
        ]
        table.add_row(*([cell(short_source(run.source))] if several else []), *row)
    return table


async def check(settings: Settings) -> int:
    """0 when a worker is alive (it keeps a health-check key in Redis), 1 when not."""
    from arq.worker import async_check_health

    async with redis_errors(settings):
        return await async_check_health(
            redis_settings(settings, conn_retries=0), None, settings.queue_name
        )
