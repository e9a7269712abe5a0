"""What a failed attempt means, written on its run (or chunk): a transient fault or a timeout
is retried with backoff while attempts remain, a shutdown puts the run back in the queue,
anything else fails the run with a message a person can act on. Attempts are counted on the
run (or chunk) row, whoever started them (arq's retries, the sweeper, a restarted worker):
at WORKER_MAX_TRIES the run fails, "gave up after N attempts"."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from src.domain.runs.services import ChunkService, RunService
from src.domain.runs.services.run_service import gave_up
from src.infra.errors import describe, is_transient
from src.ingest.deps import Attempt, IngestDeps, run_log
from src.ingest.run_errors import run_error


class JobTimedOut(Exception):  # noqa: N818 - reads as what happened
    """The attempt ran for WORKER_JOB_TIMEOUT seconds: a failed attempt, not a shutdown."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s (WORKER_JOB_TIMEOUT)")


@asynccontextmanager
async def job_deadline(seconds: float) -> AsyncIterator[None]:
    """The job's own timeout. arq cancels a job that outlives its timeout exactly as it
    cancels one at a shutdown (CancelledError inside the job), so the job stops itself a
    little earlier (the worker gives arq's timeout some grace), as a JobTimedOut."""
    try:
        async with asyncio.timeout(seconds) as scope:
            yield
    except TimeoutError:
        if scope.expired():
            raise JobTimedOut(seconds) from None
        raise


def backoff_seconds(job_try: int, base: float) -> float:
    return float(min(base ** max(job_try, 1), 300.0))


def one_line(text: str) -> str:
    """A log line stays one line (a database error's message carries its statement after
    a newline): the lines are joined with " | "."""
    return " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _reason(error: BaseException) -> str:
    return str(error) if isinstance(error, JobTimedOut) else describe(error)


async def settle_failure(
    deps: IngestDeps,
    error: BaseException,
    *,
    run_id: uuid.UUID,
    attempt: Attempt,
    chunk_id: uuid.UUID | None = None,
    restricted: bool = False,
) -> float | None:
    """Record the failed attempt; returns the seconds to wait before the retry, or None when
    the run (or chunk) has failed for good. The log has the whole error; a restricted run's
    row only what quotes nothing of its source (see `run_errors`)."""
    settings = deps.settings
    message = one_line(_reason(error))
    stored = message if isinstance(error, JobTimedOut) else run_error(error, restricted=restricted)
    log = run_log(run_id, attempt.job_id)
    if isinstance(error, JobTimedOut) or is_transient(error):
        attempts = max(attempt.job_try, await _attempts(deps, run_id, chunk_id))
        if attempts < settings.worker_max_tries:
            delay = backoff_seconds(attempts, settings.worker_retry_backoff)
            log.warning("attempt %d failed, retry in %.0fs: %s", attempts, delay, message)
            await _record(deps, run_id, chunk_id, stored, retry=True)
            return delay
        message, stored = gave_up(attempts, message), gave_up(attempts, stored)
    log.error("failed: %s", message)
    await _record(deps, run_id, chunk_id, stored, retry=False)
    return None


async def settle_interrupted(
    deps: IngestDeps,
    *,
    run_id: uuid.UUID,
    job_id: str | None = None,
    chunk_id: uuid.UUID | None = None,
) -> None:
    """A worker shutdown cancelled the attempt: the run goes back to queued, and arq runs the
    job again (the attempt counts: a job that keeps being cut short stops too)."""
    run_log(run_id, job_id).warning("interrupted by shutdown; it will run again")
    await _record(deps, run_id, chunk_id, "interrupted by a worker shutdown", retry=True)


async def _attempts(deps: IngestDeps, run_id: uuid.UUID, chunk_id: uuid.UUID | None) -> int:
    """The attempts counted on the row; 0 when the database cannot say (arq's count then)."""
    try:
        async with deps.sessions() as session:
            if chunk_id is not None:
                chunk = await ChunkService.get(session, chunk_id)
                return chunk.attempts if chunk is not None else 0
            run = await RunService.get(session, run_id)
            return run.attempts if run is not None else 0
    except Exception as error:  # noqa: BLE001 - best effort, the original error wins
        run_log(run_id, None).warning("could not read the attempts: %s", describe(error))
        return 0


async def _record(
    deps: IngestDeps,
    run_id: uuid.UUID,
    chunk_id: uuid.UUID | None,
    message: str,
    *,
    retry: bool,
) -> None:
    """Write the outcome on the run (or chunk); if the database itself is down, the log has
    it, and the sweeper finds the run again."""
    try:
        async with deps.sessions() as session, session.begin():
            if chunk_id is not None:
                chunk = await ChunkService.get(session, chunk_id)
                if chunk is None:
                    return
                if retry:
                    await ChunkService.note_retry(session, chunk.id, message)
                else:
                    await ChunkService.finish(session, chunk, error=message)
            elif retry:
                await RunService.note_retry(session, run_id, message)
            else:
                await RunService.finish(session, run_id, error=message)
    except Exception as error:  # noqa: BLE001 - best effort, the original error wins
        run_log(run_id, None).warning("could not record the outcome: %s", describe(error))
