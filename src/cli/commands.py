"""What the CLI commands do, as coroutines (the Typer layer only parses arguments)."""

from __future__ import annotations

import asyncio
import csv
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import orjson
import redis.exceptions
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import get_settings
from src.cli import display, progress
from src.cli.display import cell, printable
from src.domain.formats import Format
from src.domain.runs.entities import IngestRun, RunStatus
from src.domain.runs.request import IngestRequest
from src.domain.runs.services import FeedService, RunService
from src.domain.tender.services.export import EXPORT_FIELDS, csv_row, export_rows
from src.domain.tender.services.history import changes_since, find_tender, tender_history
from src.infra.database import create_engine, create_session_factory
from src.infra.database import migrate as migrations
from src.infra.queue import create_queue_pool
from src.ingest.enqueue import enqueue_ingest

log = logging.getLogger("tenders.cli")
out = Console()
err = Console(stderr=True)

SAMPLE = "anac_sample_ocds.json"
REJECTION_FIELDS = ("kind", "position", "field", "reason", "raw_value", "snippet", "created_at")
RUN_FIELDS = (
    "id",
    "source",
    "status",
    "inserted",
    "updated",
    "unchanged",
    "rejected",
    "warnings",
    "error",
    "started_at",
    "finished_at",
    "queued_at",
    "attempts",
    "job_id",
    "format",
    "bytes_read",
    "bytes_total",
    "progress_at",
)


@asynccontextmanager
async def database() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on an engine that this command owns and disposes."""
    engine = create_engine(get_settings())
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _dumps(row: dict[str, Any]) -> bytes:
    return orjson.dumps(row, default=str) + b"\n"


async def ingest(request: IngestRequest, *, wait: bool = False) -> None:
    pool = await create_queue_pool(get_settings())
    try:
        async with database() as session_factory:
            outcome = await enqueue_ingest(pool, session_factory, request)
    finally:
        await pool.aclose()
    if outcome.created:
        out.print(cell(f"queued job {outcome.job_id} (run {outcome.run_id})"))
    else:
        out.print(cell(f"already queued or running: job {outcome.job_id}"))
    if wait:
        async with database() as session_factory:
            run = await progress.wait_for_run(session_factory, outcome.run_id, outcome.job_id)
        if run.status != RunStatus.COMPLETE:
            raise SystemExit(1)


async def run_worker(*, burst: bool) -> None:
    """Run the arq worker; if it loses Redis (arq's own loop can exit then), start it again."""
    from workers.main import create_worker

    settings = get_settings()
    while True:
        worker = create_worker(settings, burst=burst)
        try:
            await (_drain(worker) if burst else worker.async_run())
        except asyncio.CancelledError:  # SIGINT / SIGTERM: arq has shut down gracefully
            pass
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as error:
            log.warning("worker lost Redis (%s); restarting in 1 s", error)
            await _close_quietly(worker)
            await asyncio.sleep(1)
            continue
        await _close_quietly(worker)
        return


async def _drain(worker: Any) -> None:
    """A burst worker, with the progress of every running run shown while it works."""
    async with database() as session_factory, progress.watching(session_factory, running=True):
        await worker.async_run()


async def _close_quietly(worker: Any) -> None:
    """Close a worker whose Redis may be gone: its shutdown hook must still run."""
    try:
        await worker.close()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as error:
        log.warning("worker closed without Redis (%s)", error)
        on_shutdown = worker.on_shutdown
        if on_shutdown is not None:
            await on_shutdown(worker.ctx)


async def check_worker() -> int:
    from arq.worker import async_check_health

    from src.infra.queue import redis_settings

    settings = get_settings()
    return await async_check_health(redis_settings(settings), None, settings.queue_name)


async def run_once(source: str | None) -> None:
    """What `make run` does: migrate, enqueue, drain the queue with a burst worker, summarise."""
    from workers.main import create_worker

    settings = get_settings()
    started = time.monotonic()
    await db_upgrade("head", quiet=True)
    if source is None:
        source = str(resources.files("src.samples").joinpath(SAMPLE))
    pool = await create_queue_pool(settings)
    try:
        async with database() as session_factory:
            outcome = await enqueue_ingest(pool, session_factory, IngestRequest(source))
    finally:
        await pool.aclose()
    worker = create_worker(settings, burst=True, handle_signals=False)
    watched = [outcome.run_id] if outcome.run_id else []
    try:
        async with database() as session_factory, progress.watching(session_factory, watched):
            await worker.async_run()
    finally:
        await worker.close()
    async with database() as session_factory, session_factory() as session:
        query = select(IngestRun).where(IngestRun.job_id == outcome.job_id)
        run = (
            await session.execute(query.order_by(IngestRun.queued_at.desc()).limit(1))
        ).scalar_one_or_none()
    seconds = time.monotonic() - started
    table = Table(title=cell(f"ingest of {source}"))
    for column in ("inserted", "updated", "unchanged", "rejected", "status", "seconds"):
        table.add_column(column, justify="right")
    if run is None:
        raise SystemExit("the run was not recorded; see the worker's log above")
    table.add_row(
        str(run.inserted),
        str(run.updated),
        str(run.unchanged),
        str(run.rejected),
        run.status,
        f"{seconds:.1f}",
    )
    out.print(table)
    if run.error:
        err.print(cell(f"error: {run.error}"))
    if run.status != "complete":
        raise SystemExit(1)


async def list_runs(format_name: str, limit: int) -> None:
    async with database() as session_factory, session_factory() as session:
        runs = await RunService.recent(session, limit)
    if format_name == "jsonl":
        for run in runs:
            row = {f: _jsonable(getattr(run, f)) for f in RUN_FIELDS}
            sys.stdout.buffer.write(_dumps({**row, **progress.progress_keys(run)}))
        sys.stdout.flush()
        return
    out.print(display.runs_table(runs))


async def list_rejections(run_id: uuid.UUID, format_name: str = "table") -> None:
    async with database() as session_factory, session_factory() as session:
        run = await RunService.get(session, run_id)
        if run is None:
            raise SystemExit(f"no run {run_id}")
        rows = await RunService.rejections(session, run_id)
    if format_name == "jsonl":
        for row in rows:
            sys.stdout.buffer.write(
                _dumps({f: _jsonable(getattr(row, f)) for f in REJECTION_FIELDS})
            )
        sys.stdout.flush()
        return
    out.print(display.rejections_table(run_id, rows))


async def export(format_name: str) -> None:
    stdout = sys.stdout
    writer = csv.DictWriter(stdout, fieldnames=EXPORT_FIELDS) if format_name == "csv" else None
    if writer is not None:
        writer.writeheader()
    async with database() as session_factory, session_factory() as session:
        async for row in export_rows(session):
            if writer is not None:
                writer.writerow(csv_row(row))
            else:
                stdout.buffer.write(_dumps({k: _jsonable(v) for k, v in row.items()}))
    stdout.flush()


async def feeds_add(
    source: str, format_name: Format | None, interval: int, encoding: str | None = None
) -> None:
    """A feed is fetched later by the cron, unattended: it follows the source policy (public
    http(s) URLs, files under ALLOWED_SOURCE_DIRS), checked now and at every fetch."""
    from src.infra.source_policy import SourceNotAllowed, check_source_async

    try:
        source = await check_source_async(source, get_settings())
    except SourceNotAllowed as refused:
        raise SystemExit(f"feed refused: {refused}") from None
    async with database() as session_factory, session_factory() as session, session.begin():
        feed = await FeedService.add(
            session,
            source=source,
            format=format_name.value if format_name else None,
            interval_seconds=interval,
            encoding=encoding,
        )
        out.print(cell(f"feed {feed.id}: {feed.source} every {feed.interval_seconds} s"))


async def feeds_list() -> None:
    async with database() as session_factory, session_factory() as session:
        feeds = await FeedService.list(session)
    out.print(display.feeds_table(feeds))


async def feeds_remove(source_or_id: str) -> None:
    async with database() as session_factory, session_factory() as session, session.begin():
        removed = await FeedService.remove(session, source_or_id)
    if not removed:
        raise SystemExit(f"no feed {printable(source_or_id)}")
    out.print(cell(f"removed {source_or_id}"))


async def history(cig_or_id: str) -> None:
    async with database() as session_factory, session_factory() as session:
        tender = await find_tender(session, cig_or_id)
        if tender is None:
            raise SystemExit(f"no tender {printable(cig_or_id)}")
        rows = await tender_history(session, tender.id)
    out.print(display.history_table(tender, rows) if rows else "no changes recorded")


async def changes(since: datetime, format_name: str, limit: int | None) -> None:
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    async with database() as session_factory, session_factory() as session:
        rows = await changes_since(session, since, limit=limit)
    if format_name == "jsonl":
        for row in rows:
            sys.stdout.buffer.write(_dumps({k: _jsonable(v) for k, v in row.items()}))
        sys.stdout.flush()
        return
    out.print(display.changes_table(rows))


async def reprocess(source: str | None) -> None:
    from src.ingest.reprocess import reprocess as rebuild

    async with database() as session_factory:
        run_id = await rebuild(session_factory, source=source)
        async with session_factory() as session:
            run = await RunService.get(session, run_id)
    assert run is not None
    out.print(
        f"reprocessed run {run_id}: {run.inserted} inserted, {run.updated} updated, "
        f"{run.unchanged} unchanged, {run.rejected} rejected, {run.warnings} field warnings"
    )


async def db_upgrade(revision: str, *, quiet: bool = False) -> None:
    engine = create_engine(get_settings())
    try:
        await migrations.upgrade(engine, revision)
        if not quiet:
            out.print(f"database at {await migrations.current_revision(engine)}")
    finally:
        await engine.dispose()


async def db_current() -> None:
    engine = create_engine(get_settings())
    try:
        current = await migrations.current_revision(engine)
    finally:
        await engine.dispose()
    out.print(f"current {current or 'none'}, head {migrations.head_revision()}")


async def db_revision(message: str) -> None:
    engine = create_engine(get_settings())
    try:
        await migrations.autogenerate(engine, message)
    finally:
        await engine.dispose()
