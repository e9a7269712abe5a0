"""The live progress of ingest runs, read from their rows in PostgreSQL (so a run another
worker process executes shows too): one line per run — bytes read of the total when known,
records, records per second, rejections, ETA. On a terminal (stderr) a rich display that
redraws in place; otherwise a plain log line when a run changes status, and every
PROGRESS_EVERY seconds while it runs."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import PurePosixPath
from typing import Protocol
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.cli.display import printable
from src.domain.runs.entities import IngestRun, RunStatus
from src.domain.runs.progress import RunProgress, run_progress
from src.domain.runs.services import RunService

log = logging.getLogger("tenders.progress")
Sessions = async_sessionmaker[AsyncSession]

PROGRESS_EVERY = 5.0  # seconds between two plain lines about a running run
_POLL_TERMINAL = 0.5
_POLL_PLAIN = 1.0
_FINISHED = (RunStatus.COMPLETE, RunStatus.FAILED)


def human_bytes(size: int) -> str:
    """Decimal units, as file managers and download bars show them: 950 B, 12.3 MB."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 999.95 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def human_seconds(seconds: float) -> str:
    """42 s, 3:05, 1:02:03."""
    whole = max(round(seconds), 0)
    if whole < 60:
        return f"{whole} s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def source_name(location: str) -> str:
    """The last part of a path or URL: what tells runs apart on one line."""
    path = urlsplit(location).path if "://" in location else location
    return PurePosixPath(path.replace("\\", "/")).name or location


def progress_detail(progress: RunProgress, *, finished: bool = False) -> str:
    """`12.3 MB of 40.0 MB (31%), 20,000 records, 2,850 records/s, 3 rejected, ETA 10 s`."""
    parts = []
    fraction = progress.fraction
    if progress.bytes_total and fraction is not None:
        parts.append(
            f"{human_bytes(progress.bytes_read)} of {human_bytes(progress.bytes_total)} "
            f"({fraction:.0%})"
        )
    elif progress.bytes_read:
        parts.append(f"{human_bytes(progress.bytes_read)} read")
    parts.append(f"{progress.records:,} records")
    if progress.rate_per_second is not None:
        parts.append(f"{progress.rate_per_second:,.0f} records/s")
    parts.append(f"{progress.rejected:,} rejected")
    if progress.eta_seconds is not None:
        parts.append(f"ETA {human_seconds(progress.eta_seconds)}")
    elif finished and progress.seconds is not None:
        parts.append(f"in {human_seconds(progress.seconds)}")
    return ", ".join(parts)


def progress_line(run: IngestRun) -> str:
    """One run on one line (data escaped for a terminal): `run 1a2b3c4d running
    big.jsonl: 12.3 MB of 40.0 MB (31%), …`; a failed run ends with its error."""
    line = f"run {str(run.id)[:8]} {run.status} {source_name(run.source)}"
    if run.status != RunStatus.QUEUED:
        line += f": {progress_detail(run_progress(run), finished=run.status in _FINISHED)}"
    if run.status == RunStatus.FAILED and run.error:
        line += f"; error: {run.error}"
    return printable(line)


def progress_keys(run: IngestRun) -> dict[str, float | int | None]:
    """What `runs --format jsonl` adds to a run's columns: records, rate and ETA."""
    progress = run_progress(run)
    return {
        "records": progress.records,
        "rate_per_second": progress.rate_per_second,
        "eta_seconds": progress.eta_seconds,
    }


class _Display(Protocol):
    def show(self, runs: Sequence[IngestRun]) -> None: ...
    def close(self) -> None: ...


class _PlainLines:
    """A log line per run when its status changes, and every `every` s while it runs."""

    def __init__(self, every: float) -> None:
        self._every = every
        self._said: dict[uuid.UUID, tuple[str, float]] = {}

    def show(self, runs: Sequence[IngestRun]) -> None:
        now = time.monotonic()
        for run in runs:
            status, when = self._said.get(run.id, ("", 0.0))
            due = run.status == RunStatus.RUNNING and now - when >= self._every
            if run.status != status or due:
                log.info("%s", progress_line(run))
                self._said[run.id] = (run.status, now)

    def close(self) -> None:
        pass


class _LiveBars:
    """A rich progress bar per run, redrawn in place on stderr."""

    def __init__(self, console: Console) -> None:
        self._bars = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TextColumn("{task.fields[detail]}", markup=False),
            console=console,
        )
        self._tasks: dict[uuid.UUID, TaskID] = {}
        self._bars.start()

    def show(self, runs: Sequence[IngestRun]) -> None:
        for run in runs:
            progress = run_progress(run)
            description = printable(f"{str(run.id)[:8]} {source_name(run.source)}")
            finished = run.status in _FINISHED
            detail = printable(f"{run.status}: {progress_detail(progress, finished=finished)}")
            if run.status == RunStatus.FAILED and run.error:
                detail += printable(f"; error: {run.error}")
            task = self._tasks.get(run.id)
            if task is None:
                task = self._tasks[run.id] = self._bars.add_task(description, detail=detail)
            self._bars.update(
                task,
                total=progress.bytes_total or None,
                completed=progress.bytes_read,
                detail=detail,
            )

    def close(self) -> None:
        self._bars.stop()


def _display(console: Console | None = None, every: float = PROGRESS_EVERY) -> _Display:
    console = console or Console(stderr=True)
    return _LiveBars(console) if console.is_terminal else _PlainLines(every)


class _Watched:
    """Which runs to show: the ones named, and with `running` every run now running (and
    each of those until it has finished)."""

    def __init__(self, run_ids: Iterable[uuid.UUID], running: bool) -> None:
        self.run_ids = set(run_ids)
        self.running = running

    async def rows(self, sessions: Sessions) -> Sequence[IngestRun]:
        async with sessions() as session:
            runs = await RunService.watched(session, self.run_ids, running=self.running)
        self.run_ids.update(run.id for run in runs)
        return runs


async def wait_for_run(sessions: Sessions, run_id: uuid.UUID | None, job_id: str) -> IngestRun:
    """Show one run until it has finished; its row then. Without a run id (the source was
    queued already), the newest run of its job."""
    if run_id is None:
        async with sessions() as session:
            found = await RunService.latest_of_job(session, job_id)
        if found is None:
            raise SystemExit(f"job {job_id} has no run in the database")
        run_id = found.id
    watched = _Watched([run_id], running=False)
    display = _display()
    try:
        while True:
            runs = await watched.rows(sessions)
            display.show(runs)
            if not runs:
                raise SystemExit(f"run {run_id} is not in the database")
            if runs[0].status in _FINISHED:
                return runs[0]
            await asyncio.sleep(_POLL_TERMINAL if isinstance(display, _LiveBars) else _POLL_PLAIN)
    finally:
        display.close()


@asynccontextmanager
async def watching(
    sessions: Sessions, run_ids: Iterable[uuid.UUID] = (), *, running: bool = False
) -> AsyncIterator[None]:
    """Show these runs (and with `running` every running run) while the block runs (a
    worker draining the queue), and their state once more when it ends. A failure to read
    the rows costs only the display."""
    watched = _Watched(run_ids, running)
    display = _display()
    poll = _POLL_TERMINAL if isinstance(display, _LiveBars) else _POLL_PLAIN
    task = asyncio.create_task(_refresh_until_cancelled(sessions, watched, display, poll))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await _refresh(sessions, watched, display)
        display.close()


async def _refresh(sessions: Sessions, watched: _Watched, display: _Display) -> None:
    try:
        display.show(await watched.rows(sessions))
    except Exception as error:  # noqa: BLE001 - the display never stops the work it shows
        log.debug("progress not shown: %s", error)


async def _refresh_until_cancelled(
    sessions: Sessions, watched: _Watched, display: _Display, poll: float
) -> None:
    while True:
        await _refresh(sessions, watched, display)
        await asyncio.sleep(poll)
