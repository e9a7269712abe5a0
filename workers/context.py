"""The worker's shared dependencies, as one typed value built at start-up and kept in arq's
ctx under one key. Sessions are not in it: each job opens its own from `sessions`."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from configs.config import Settings, get_settings
from src.infra.database import create_engine, create_session_factory
from src.infra.guarded_http import PolicyTransport
from src.infra.queue import dispatch_job_id
from src.infra.runtime import tune_garbage_collector
from src.infra.source_policy import Resolver, system_resolver
from src.ingest.alerts.wake import wake_if_dirty
from src.ingest.alerts.webhook import webhook_client
from src.ingest.deps import Attempt, IngestDeps

log = logging.getLogger("tenders.worker")
_DEPS = "deps"


@dataclass(frozen=True)
class WorkerDeps(IngestDeps):
    """`engine` is set when the worker built it (and so disposes of it)."""

    engine: AsyncEngine | None = None

    @staticmethod
    def of(ctx: dict[str, Any]) -> WorkerDeps:
        deps = ctx.get(_DEPS)
        if not isinstance(deps, WorkerDeps):
            raise RuntimeError("the worker's dependencies are missing: on_startup did not run")
        return deps

    @staticmethod
    def attempt(ctx: dict[str, Any]) -> Attempt:
        """The job arq is running in this ctx, and its try number."""
        job_id = ctx.get("job_id")
        return Attempt(str(job_id) if job_id else None, int(ctx.get("job_try", 1)))

    @classmethod
    def build(
        cls,
        settings: Settings,
        queue: ArqRedis,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        *,
        resolve: Resolver = system_resolver,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> WorkerDeps:
        """Everything jobs share; an engine of its own unless `sessions` is given (tests,
        which also give their own DNS and network: no test traffic leaves the machine)."""
        engine = None if sessions is not None else create_engine(settings)
        http, http_restricted = http_clients(settings, resolve=resolve, network=network)
        return cls(
            settings=settings,
            sessions=sessions or create_session_factory(engine),  # type: ignore[arg-type]
            queue=queue,
            http=http,
            http_restricted=http_restricted,
            resolve=resolve,
            http_webhooks=webhook_client(settings, resolve=resolve, network=network),
            engine=engine,
        )

    async def close(self) -> None:
        await self.http.aclose()
        await self.http_restricted.aclose()
        if self.http_webhooks is not None:
            await self.http_webhooks.aclose()
        if self.engine is not None:
            await self.engine.dispose()


def http_clients(
    settings: Settings,
    *,
    resolve: Resolver = system_resolver,
    network: httpcore.AsyncNetworkBackend | None = None,
) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    """The client for sources the user named, and the one for sources named by the API or a
    feed, whose every connection (redirects included) goes to an address the source policy
    checked, resolved once (`network` is the sockets' backend: tests give a loopback one)."""
    options: dict[str, Any] = {
        "timeout": httpx.Timeout(settings.http_timeout, read=settings.http_read_timeout),
        "follow_redirects": True,
        "headers": {"User-Agent": settings.user_agent},
    }
    return (
        httpx.AsyncClient(**options),
        httpx.AsyncClient(**options, transport=PolicyTransport(settings, resolve, network)),
    )


async def on_startup(ctx: dict[str, Any]) -> None:
    """Build what jobs share, from the settings the worker was created with (`ctx["settings"]`)
    and arq's Redis pool. A test may pass its own session factory as `ctx["sessions"]`."""
    settings: Settings = ctx.get("settings") or get_settings()
    ctx[_DEPS] = WorkerDeps.build(settings, ctx["redis"], ctx.get("sessions"))
    tune_garbage_collector()
    log.info("worker started (queue %s)", settings.queue_name)


async def _keep_in_progress(redis: ArqRedis, key: str, seconds: int) -> None:
    while True:
        await redis.pexpire(key, seconds * 1000)
        await asyncio.sleep(seconds / 3)


JOBS_RAN = "jobs_ran"


def jobs_ran(ctx: dict[str, Any]) -> list[str]:
    """The ids of the jobs this worker started, in order: a list that `on_job_start` fills
    (a burst worker's summary reads it). Call it on the worker's ctx before it runs."""
    ran = ctx.setdefault(JOBS_RAN, [])
    if not isinstance(ran, list):
        raise TypeError(f"ctx[{JOBS_RAN!r}] is not a list")
    return ran


# Jobs whose in-progress key is kept alive in short steps: ingests and the alert dispatcher.
KEPT_ALIVE = ("ingest:", "alerts:")


async def on_job_start(ctx: dict[str, Any]) -> None:
    """arq marks a running job with an in-progress key that lives as long as the longest job
    timeout (an hour here): a killed worker's job would wait that long to run again (and a
    dispatcher's id would refuse every wake-up meanwhile). Ingest and dispatcher jobs keep
    the key alive in short steps instead, so recovery takes seconds."""
    job_id = str(ctx.get("job_id", ""))
    ran = ctx.get(JOBS_RAN)
    if isinstance(ran, list):  # the same list as the worker's ctx: job ctxs are shallow copies
        ran.append(job_id)
    if job_id.startswith(KEPT_ALIVE):
        deps = WorkerDeps.of(ctx)
        key = in_progress_key_prefix + job_id
        seconds = deps.settings.job_keepalive_seconds
        ctx["_keepalive"] = asyncio.create_task(_keep_in_progress(deps.queue, key, seconds))


async def on_job_end(ctx: dict[str, Any]) -> None:
    keepalive = ctx.pop("_keepalive", None)
    if keepalive is not None:
        keepalive.cancel()
        await asyncio.gather(keepalive, return_exceptions=True)


async def after_job_end(ctx: dict[str, Any]) -> None:
    """Once arq has let go of the dispatcher's job id: a wake-up that came in after its last
    look (and whose enqueue arq refused, the job running) queues it again (see
    `src.ingest.alerts.wake`)."""
    deps = ctx.get(_DEPS)
    if not isinstance(deps, WorkerDeps):
        return
    if ctx.get("job_id") == dispatch_job_id(deps.settings.queue_name):
        await wake_if_dirty(deps.queue, deps.settings.queue_name)


async def on_shutdown(ctx: dict[str, Any]) -> None:
    """The worker owns the HTTP clients and the engine it built: close them."""
    deps = ctx.pop(_DEPS, None)
    if isinstance(deps, WorkerDeps):
        await deps.close()
    log.info("worker stopped")
