"""The arq worker: `arq workers.main.WorkerSettings`, or `tenders worker`.

Settings are read when this module is imported, so the process environment (DATABASE_URL,
REDIS_URL) must be set by then; `tenders worker` resolves the embedded servers first."""

from __future__ import annotations

from typing import Any

from arq import cron
from arq.worker import Worker, func

from configs.config import Settings, get_settings
from src.infra.queue import (
    CHUNK_FUNCTION,
    DISPATCH_FUNCTION,
    INGEST_FUNCTION,
    deserialize,
    redis_settings,
    serialize,
)
from src.ingest.alerts.dispatch import longest_run_seconds
from workers.context import after_job_end, on_job_end, on_job_start, on_shutdown, on_startup
from workers.cron import scheduled
from workers.jobs import dispatch_alerts, ingest_chunk, ingest_source

# Ingest jobs stop themselves at WORKER_JOB_TIMEOUT (a timed-out attempt is a failed attempt,
# see src.ingest.outcome.job_deadline); arq's own timeout, which cancels a job the way a
# shutdown does, comes this much later, for a job that could not stop in time.
TIMEOUT_GRACE_SECONDS = 60
# The dispatcher runs again each time it stops at its budget (a Retry counts as a try):
# its tries are not a failure count.
DISPATCH_MAX_TRIES = 1_000_000


def dispatch_timeout(settings: Settings) -> float:
    """The dispatcher's longest run, and time to record what its last sends came to."""
    return longest_run_seconds(settings) + TIMEOUT_GRACE_SECONDS


def worker_options(settings: Settings) -> dict[str, Any]:
    """Everything arq's Worker takes, from our settings; used by WorkerSettings and tests."""
    job_timeout = settings.worker_job_timeout + TIMEOUT_GRACE_SECONDS
    return {
        "functions": [
            func(
                ingest_source,
                name=INGEST_FUNCTION,
                max_tries=settings.worker_max_tries,
                timeout=job_timeout,
                keep_result=0,
            ),
            func(
                ingest_chunk,
                name=CHUNK_FUNCTION,
                max_tries=settings.worker_max_tries,
                timeout=job_timeout,
                keep_result=0,
            ),
            func(
                dispatch_alerts,
                name=DISPATCH_FUNCTION,
                max_tries=DISPATCH_MAX_TRIES,
                timeout=dispatch_timeout(settings),
                keep_result=0,
            ),
        ],
        "cron_jobs": [
            cron(
                scheduled,
                name="scheduled",
                minute=settings.cron_minutes,
                second=settings.cron_seconds,
                unique=True,
                run_at_startup=True,
                timeout=300,
                keep_result=0,
            ),
        ],
        "queue_name": settings.queue_name,
        "redis_settings": redis_settings(settings),
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "on_job_start": on_job_start,
        "on_job_end": on_job_end,
        "after_job_end": after_job_end,
        "max_jobs": settings.worker_max_jobs,
        "job_timeout": job_timeout,
        "keep_result": 0,
        "max_tries": settings.worker_max_tries,
        "poll_delay": settings.worker_poll_delay,
        "health_check_interval": settings.worker_health_check_interval,
        "job_serializer": serialize,
        "job_deserializer": deserialize,
        "ctx": {"settings": settings},
    }


def create_worker(settings: Settings, **overrides: Any) -> Worker:
    """Build the Worker inside the running event loop (arq takes the loop at construction)."""
    return Worker(**{**worker_options(settings), **overrides})


def __getattr__(name: str) -> Any:
    """`arq workers.main.WorkerSettings`: the options dict, read from the settings when the
    worker starts (not when a test imports this module), so a missing REDIS_URL is reported
    then, with a message that says what to set."""
    if name == "WorkerSettings":
        return worker_options(get_settings())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["create_worker", "worker_options"]  # and WorkerSettings, resolved lazily
