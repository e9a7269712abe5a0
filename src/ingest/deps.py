"""What running an ingest needs from its process, as one typed value (the worker builds it
at start-up; tests build their own)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import httpx
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings
from src.domain.runs.request import IngestRequest
from src.infra.source_policy import Resolver, system_resolver
from src.ingest.alerts.wake import DispatchSignal
from src.readers import ReadLimits


@dataclass(frozen=True)
class IngestDeps:
    """`http` fetches sources the operator named; `http_restricted` those named by the API or
    a feed, whose every connection (redirects included) passes the source policy. `resolve`
    is the DNS the policy asks (tests give their own: no test traffic leaves the machine).
    `http_webhooks` sends alert webhooks under the webhook policy (the alert dispatcher
    opens one of its own when it is not given)."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    queue: ArqRedis
    http: httpx.AsyncClient
    http_restricted: httpx.AsyncClient
    resolve: Resolver = system_resolver
    http_webhooks: httpx.AsyncClient | None = None

    def http_for(self, request: IngestRequest) -> httpx.AsyncClient:
        return self.http_restricted if request.restricted else self.http

    @property
    def alerts(self) -> DispatchSignal:
        """How an ingest wakes the alert dispatcher after a batch that wrote events."""
        return DispatchSignal(self.queue, self.settings.queue_name)

    @property
    def read_limits(self) -> ReadLimits:
        """What one JSON document or item may cost a reader (MAX_JSON_DEPTH, MAX_OBJECT_BYTES)."""
        return ReadLimits(
            max_json_depth=self.settings.max_json_depth,
            max_object_bytes=self.settings.max_object_bytes,
        )


@dataclass(frozen=True)
class Attempt:
    """Which job runs a request, and its try number (arq counts from 1)."""

    job_id: str | None = None
    job_try: int = 1


RunLog = logging.LoggerAdapter[logging.Logger]


def run_log(run_id: uuid.UUID | str, job_id: str | None) -> RunLog:
    """The ingest logger, with the run and job every line is about (see the log format)."""
    return logging.LoggerAdapter(
        logging.getLogger("tenders.ingest"), {"run_id": str(run_id), "job_id": job_id}
    )
