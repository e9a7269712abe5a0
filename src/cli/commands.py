"""What the CLI commands do, as coroutines (the Typer layer only parses arguments)."""

from __future__ import annotations

import csv
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from configs.config import get_settings
from src.cli import display, errors, progress
from src.cli.display import cell
from src.cli.errors import EXIT_FAILED, EXIT_UNREACHABLE, CliError, database_errors, redis_errors
from src.cli.worker import summary_table
from src.domain.runs.entities import IngestRun, RunStatus
from src.domain.runs.services import FeedService, RunService
from src.domain.runs.services.lookup import resolve_feed, resolve_run
from src.domain.tender.services.export import EXPORT_FIELDS, csv_row, export_rows
from src.domain.tender.services.history import changes_since, tender_history
from src.domain.tender.services.lookup import resolve_tender
from src.infra.database import create_engine, create_session_factory
from src.infra.database import migrate as migrations
from src.infra.queue import create_queue_pool
from src.ingest.admission import RequestRefused, admit
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
    "quiet",
)


@asynccontextmanager
async def database() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on an engine that this command owns and disposes; a database that
    is missing, unreachable or not migrated ends the command with one line (CliError)."""
    settings = get_settings()
    engine = create_engine(settings)
    try:
        async with database_errors(settings):
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


async def ingest(
    source: str,
    format_name: str | None,
    encoding: str | None,
    *,
    wait: bool = False,
    quiet: bool = False,
) -> None:
    """Check the request at the door (the API's check), write its run row, then queue it:
    a refused request or a database that cannot take the row queues nothing. A `quiet` run
    writes no alert events."""
    settings = get_settings()
    try:
        request = await admit(source, settings, format=format_name, encoding=encoding, quiet=quiet)
    except RequestRefused as refused:
        raise CliError(str(refused), EXIT_UNREACHABLE if refused.retry_later else 2) from None
    async with redis_errors(settings):
        pool = await create_queue_pool(settings, conn_retries=0)
    try:
        async with database() as session_factory:
            outcome = await enqueue_ingest(pool, session_factory, request)
    finally:
        await pool.aclose()
    if outcome.created:
        out.print(cell(f"queued job {outcome.job_id} (run {outcome.run_id})"), soft_wrap=True)
    else:
        out.print(cell(f"already queued or running: job {outcome.job_id}"), soft_wrap=True)
    if wait:
        async with database() as session_factory:
            run = await progress.wait_for_run(session_factory, outcome.run_id, outcome.job_id)
        if run.status != RunStatus.COMPLETE:
            raise SystemExit(EXIT_FAILED)


async def run_worker(*, burst: bool, processes: int = 1, jobs_file: Path | None = None) -> int:
    """Run the arq worker (see `src.cli.worker`), or `processes` of them (`src.cli.supervisor`);
    the exit code. `jobs_file`: this is one of those processes, a burst one."""
    from src.cli import worker

    settings = get_settings()
    if processes > 1:
        from src.cli.supervisor import supervise

        return await supervise(settings, processes, burst=burst, verbose=errors.wants_traceback())
    if jobs_file is not None:
        return await worker.run_burst_child(settings, jobs_file)
    if burst:
        return await worker.run_burst(settings)
    async with worker.stopped_when_orphaned():
        await worker.run_forever(settings)
    return 0


async def check_worker() -> int:
    from src.cli import worker

    return await worker.check(get_settings())


async def run_once(source: str | None) -> None:
    """What `make run` does: migrate, enqueue, drain the queue with a burst worker, summarise."""
    from workers.main import create_worker

    settings = get_settings()
    started = time.monotonic()
    await db_upgrade("head", quiet=True)
    if source is None:
        source = str(resources.files("src.samples").joinpath(SAMPLE))
    try:
        request = await admit(source, settings)
    except RequestRefused as refused:
        raise CliError(str(refused)) from None
    async with redis_errors(settings):
        pool = await create_queue_pool(settings, conn_retries=0)
    try:
        async with database() as session_factory:
            outcome = await enqueue_ingest(pool, session_factory, request)
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
    if run is None:
        raise SystemExit("the run was not recorded; see the worker's log above")
    out.print(summary_table([run], title=f"ingest of {source}", seconds=seconds))
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
    out.print(display.runs_table(runs, out.width))


async def list_rejections(run_id_or_prefix: str, format_name: str = "table") -> None:
    async with database() as session_factory, session_factory() as session:
        try:
            run = await resolve_run(session, run_id_or_prefix)
        except LookupError as error:
            display.fail(error)
        run_id = run.id
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
    source: str, format_name: str | None, interval: int, encoding: str | None = None
) -> None:
    """A feed is fetched later by the cron, unattended: it passes the door as an API request
    does (the source policy: public http(s) URLs, files under ALLOWED_SOURCE_DIRS), checked
    now and at every fetch."""
    try:
        request = await admit(
            source, get_settings(), format=format_name, encoding=encoding, restricted=True
        )
    except RequestRefused as refused:
        raise CliError(f"feed refused: {refused}") from None
    async with database() as session_factory, session_factory() as session, session.begin():
        feed = await FeedService.add(
            session,
            source=request.location,
            format=request.format.value if request.format else None,
            interval_seconds=interval,
            encoding=request.encoding,
        )
        out.print(cell(f"feed {feed.id}: {feed.source} every {feed.interval_seconds} s"))


async def feeds_list() -> None:
    async with database() as session_factory, session_factory() as session:
        feeds = await FeedService.list(session)
    out.print(display.feeds_table(feeds, out.width))


async def feeds_remove(source_or_id: str) -> None:
    async with database() as session_factory, session_factory() as session, session.begin():
        try:
            feed = await resolve_feed(session, source_or_id)
        except LookupError as error:
            display.fail(error)
        await FeedService.remove(session, str(feed.id))
    out.print(cell(f"removed {feed.source}"))


async def history(cig_or_id: str) -> None:
    async with database() as session_factory, session_factory() as session:
        try:
            tender = await resolve_tender(session, cig_or_id)
        except LookupError as error:
            display.fail(error)
        rows = await tender_history(session, tender.id)
    out.print(display.history_table(tender, rows, out.width) if rows else "no changes recorded")


async def changes(
    since: datetime, format_name: str, limit: int | None, fields: tuple[str, ...] = ()
) -> None:
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    async with database() as session_factory, session_factory() as session:
        rows = await changes_since(session, since, limit=limit, fields=fields)
    if format_name == "jsonl":
        for row in rows:
            sys.stdout.buffer.write(_dumps({k: _jsonable(v) for k, v in row.items()}))
        sys.stdout.flush()
        return
    out.print(display.changes_table(rows, out.width))


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


@asynccontextmanager
async def migration_engine() -> AsyncIterator[AsyncEngine]:
    """An engine for Alembic, disposed at the end; database failures are one line."""
    settings = get_settings()
    engine = create_engine(settings)
    try:
        async with database_errors(settings):
            yield engine
    finally:
        await engine.dispose()


async def db_upgrade(revision: str, *, quiet: bool = False) -> None:
    async with migration_engine() as engine:
        await migrations.upgrade(engine, revision)
        if not quiet:
            out.print(f"database at {await migrations.current_revision(engine)}")


async def db_current() -> None:
    async with migration_engine() as engine:
        current = await migrations.current_revision(engine)
    out.print(f"current {current or 'none'}, head {migrations.head_revision()}")


async def db_revision(message: str) -> None:
    async with migration_engine() as engine:
        await migrations.autogenerate(engine, message)
