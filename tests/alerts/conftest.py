"""Alert delivery on committed data: a database of the test's own (the dispatcher works in
transactions of its own, several at once), a real Redis queue, a local webhook receiver and
a local SMTP server."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from arq.connections import ArqRedis
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from configs.config import Settings
from src.domain.alerts.entities import Delivery, TenderEvent, Watch
from src.domain.alerts.schemas import WatchSpec
from src.domain.alerts.services.watches import OPERATOR, WatchService
from src.domain.tender.schemas import TenderRecord, UpsertCounts
from src.domain.tender.services import TenderService
from src.infra.database import create_engine, create_session_factory
from src.infra.queue import create_queue_pool, dispatch_job_id
from src.ingest.alerts.dispatch import DispatchSummary, dispatch_alerts
from src.ingest.alerts.webhook import webhook_client
from tests.support.paths import ROOT
from tests.support.receivers import Inbox, Receiver, receiving, smtp_server
from tests.support.servers import Servers
from workers.context import WorkerDeps


@dataclass
class AlertWorld:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    queue: ArqRedis
    deps: WorkerDeps
    built: list[WorkerDeps] = field(default_factory=list)

    def configure(self, **changes: Any) -> WorkerDeps:
        """The dispatcher's settings changed (its webhook client built for them)."""
        if isinstance(changes.get("smtp_url"), str):
            changes["smtp_url"] = SecretStr(changes["smtp_url"])
        settings = self.settings.model_copy(update=changes)
        self.deps = dataclasses.replace(
            self.deps, settings=settings, http_webhooks=webhook_client(settings)
        )
        self.built.append(self.deps)
        return self.deps

    async def dispatch(self, budget: float = 30) -> DispatchSummary:
        return await dispatch_alerts(self.deps, budget=budget)

    async def watch(self, name: str, **spec: Any) -> Watch:
        async with self.sessions() as session, session.begin():
            return await WatchService.create(session, WatchSpec(name=name, **spec), owner=OPERATOR)

    async def store(self, records: Sequence[TenderRecord]) -> UpsertCounts:
        """One committed transaction, as an ingest batch writes it."""
        async with self.sessions() as session, session.begin():
            return await TenderService.upsert_many(session, records)

    async def deliveries(self, watch: Watch | None = None) -> list[Delivery]:
        query = select(Delivery).order_by(Delivery.created_at, Delivery.id)
        if watch is not None:
            query = query.where(Delivery.watch_id == watch.id)
        async with self.sessions() as session:
            return list(await session.scalars(query))

    async def event_ids(self) -> list[str]:
        async with self.sessions() as session:
            ids = await session.scalars(select(TenderEvent.id).order_by(TenderEvent.seq))
            return [str(i) for i in ids]

    async def reload(self, watch: Watch) -> Watch:
        async with self.sessions() as session:
            found = await session.get(Watch, watch.id)
            assert found is not None
            return found


@pytest.fixture
async def world(servers: Servers, fresh_database_url: str) -> AsyncIterator[AlertWorld]:
    settings = Settings(
        database_url=fresh_database_url,
        redis_url=servers.redis_url,
        queue_name=f"test:{uuid.uuid4().hex[:8]}",
        allow_private_webhooks=True,  # the receiver is on 127.0.0.1
        webhook_timeout_seconds=5,
        webhook_backoff_seconds=0,
        webhook_backoff_max_seconds=5,
        data_dir=ROOT / ".data",
    )
    engine = create_engine(settings)
    queue = await create_queue_pool(settings)
    deps = WorkerDeps.build(settings, queue, create_session_factory(engine))
    made = AlertWorld(settings, engine, create_session_factory(engine), queue, deps, [deps])
    try:
        yield made
    finally:
        for built in made.built:
            await built.close()
        job_id = dispatch_job_id(settings.queue_name)
        await queue.delete(settings.queue_name, f"arq:job:{job_id}", f"{job_id}:dirty")
        await queue.aclose()
        await engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as running:
        yield running


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_server() as running:
        yield running
