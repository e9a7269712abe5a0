"""Calling job functions directly, as arq would."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpcore

from src.domain.formats import Format
from src.domain.runs.request import IngestRequest
from src.domain.runs.services import ChunkService, RunService
from src.infra.source_policy import Resolver
from tests.support.api import fake_resolver
from workers import jobs
from workers.context import WorkerDeps, http_clients


def job_ctx(deps: WorkerDeps, *, job_id: str = "test-job", job_try: int = 1) -> dict[str, Any]:
    """The ctx arq passes to a job: the worker's dependencies, the job id and its try."""
    return {"deps": deps, "redis": deps.queue, "job_id": job_id, "job_try": job_try}


def with_settings(ctx: dict[str, Any], **changes: Any) -> WorkerDeps:
    """Change settings for the jobs called with `ctx` (the deps are frozen: a new value)."""
    deps: WorkerDeps = ctx["deps"]
    ctx["deps"] = dataclasses.replace(deps, settings=deps.settings.model_copy(update=changes))
    return ctx["deps"]  # type: ignore[no-any-return]


@asynccontextmanager
async def fetching(
    ctx: dict[str, Any],
    *,
    resolve: Resolver = fake_resolver,
    network: httpcore.AsyncNetworkBackend | None = None,
    **changes: Any,
) -> AsyncIterator[WorkerDeps]:
    """Jobs called with `ctx` fetch with these settings, this DNS and this network (HTTP
    clients built for them, as the worker builds its own at start-up)."""
    before: WorkerDeps = ctx["deps"]
    settings = before.settings.model_copy(update=changes)
    http, http_restricted = http_clients(settings, resolve=resolve, network=network)
    ctx["deps"] = dataclasses.replace(
        before, settings=settings, http=http, http_restricted=http_restricted, resolve=resolve
    )
    try:
        yield ctx["deps"]
    finally:
        ctx["deps"] = before
        await http.aclose()
        await http_restricted.aclose()


async def ingest_source(
    ctx: dict[str, Any],
    location: str,
    *,
    format: str | None = None,
    encoding: str | None = None,
    run_id: str | None = None,
    feed_id: str | None = None,
    restricted: bool = False,
) -> dict[str, Any]:
    """Run the ingest job on the payload an enqueuer would send for this request."""
    request = IngestRequest(
        location,
        format=Format.parse(format),
        encoding=encoding,
        feed_id=uuid.UUID(feed_id) if feed_id else None,
        restricted=restricted,
        run_id=uuid.UUID(run_id) if run_id else uuid.uuid4(),
    )
    return await jobs.ingest_source(ctx, **request.to_job())


async def run_chunks(ctx: dict[str, Any], run_id: uuid.UUID) -> list[dict[str, Any]]:
    """Run every unfinished chunk of a split run through the real chunk job, in order, as
    workers would take them from the queue."""
    deps: WorkerDeps = ctx["deps"]
    async with deps.sessions() as session:
        run = await RunService.get(session, run_id)
        assert run is not None, f"run {run_id} does not exist"
        chunks = list(await ChunkService.unfinished(session, run_id))
        payload = run.request().to_job()
    return [
        await jobs.ingest_chunk({**ctx, "job_id": chunk.job_id}, **payload, chunk_id=str(chunk.id))
        for chunk in chunks
    ]
