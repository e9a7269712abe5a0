"""Everything the benchmark takes from the project (configs/, src/), in one place: when the
project's modules move or change signatures, this is the bench's one file to update."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings, redact_url
from configs.tokens import new_token
from src.cli.serve_api import APP_FACTORY
from src.domain.alerts.entities import Delivery, TenderEvent
from src.domain.alerts.schemas import WatchSpec
from src.domain.alerts.services.watches import WatchService
from src.domain.runs.entities import IngestRun
from src.domain.runs.request import IngestRequest
from src.domain.tender.entities import Tender
from src.domain.tender.schemas import TenderCreate, TenderRecord
from src.domain.tender.services import TenderService
from src.infra.database import create_engine, create_session_factory
from src.infra.database.migrate import upgrade
from src.infra.queue import create_queue_pool
from src.infra.runtime import tune_garbage_collector
from src.ingest.enqueue import enqueue_ingest
from src.ingest.prepare import the_one_item
from src.readers import UnmappedDocument, UnreadLine, map_document, read_source
from src.readers.limits import ReadHints, ReadLimits

__all__ = [
    "APP_FACTORY",
    "Delivery",
    "IngestClient",
    "RunFigures",
    "TenderCreate",
    "TenderEvent",
    "TenderRecord",
    "WatchService",
    "WatchSpec",
    "as_create",
    "ingest_client",
    "map_items",
    "migrate",
    "one_commit_per_row",
    "parse_line",
    "read_records",
    "read_token",
    "record_values",
    "redact_url",
    "redis_version",
    "sessions_of",
    "tune_garbage_collector",
    "unread_lines",
]


async def migrate(url: str) -> None:
    """Bring the database at `url` to the head of the migrations."""
    engine = create_engine(Settings(database_url=url))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def redis_version(redis_url: str) -> Any:
    pool = await create_queue_pool(Settings(redis_url=redis_url))
    try:
        return (await pool.info("server")).get("redis_version")
    finally:
        await pool.aclose()


def read_token() -> tuple[str, str]:
    """A new token with the read scope, and its API_TOKENS entry."""
    token, entry = new_token("bench", ["read"])
    return token, entry.entry()


# --- rows built beforehand: the project's reader, its records and its naive service ----------


def read_records(path: Path) -> Iterator[TenderRecord]:
    """A source read by the project's reader, every item mapped to its record. JSON lines come
    out of the reader unmapped (the worker maps them only when new): they are mapped here."""
    with path.open("rb") as stream:
        yield from map_items(read_source(stream, path.name, source_url=str(path)))


def unread_lines(data: bytes, name: str) -> list[UnreadLine | UnmappedDocument]:
    """What the worker's reader thread makes of JSON lines (`data`) once a source is known
    to be mostly new: each line cut and digested, left unread (but the stream's first, which
    the reader parses to see what the source is)."""
    limits = ReadLimits(hints=ReadHints(lines_unread=True, json_lines=True))
    items = list(read_source(io.BytesIO(data), name, source_url=name, limits=limits))
    lines = [item for item in items if isinstance(item, UnreadLine | UnmappedDocument)]
    if len(lines) != len(items):
        raise RuntimeError(f"{len(items) - len(lines)} of {name}'s lines are not documents")
    return lines


def parse_line(line: UnreadLine | UnmappedDocument) -> UnmappedDocument:
    """An unread line parsed, as the worker parses it right before mapping it."""
    item = the_one_item(line) if isinstance(line, UnreadLine) else line
    if not isinstance(item, UnmappedDocument):
        raise RuntimeError(f"{line.position} is not a document to map: {item!r}")
    return item


def map_items(items: Iterable[Any]) -> Iterator[TenderRecord]:
    """The records of the reader's items, the unmapped documents mapped as the worker does."""
    for item in items:
        built = map_document(item) if isinstance(item, UnmappedDocument) else [item]
        for record in built:
            if not isinstance(record, TenderRecord):
                raise RuntimeError(f"the generated source does not map cleanly: {record!r}")
            yield record


def record_values(record: TenderRecord) -> dict[str, Any]:
    """What the worker writes for a record (created_at / updated_at come from defaults)."""
    values = record.hashed_fields()
    values["source_url"] = record.source_url
    values["id"] = uuid.uuid4()
    values["identity_key"] = record.identity_key
    values["content_hash"] = record.content_hash()
    return values


def as_create(record: TenderRecord) -> TenderCreate:
    return TenderCreate(**record.model_dump())


@asynccontextmanager
async def one_commit_per_row(
    url: str,
) -> AsyncIterator[Callable[[TenderCreate], Awaitable[None]]]:
    """The seed's naive path: TenderService.create and a commit, one transaction per row."""
    engine = create_engine(Settings(database_url=url))
    factory = create_session_factory(engine)

    async def create(data: TenderCreate) -> None:
        async with factory() as session, session.begin():
            await TenderService.create(session, data)

    try:
        yield create
    finally:
        await engine.dispose()


# --- the real path: enqueue as a client does, read what the runs say --------------------------


@dataclass(frozen=True)
class RunFigures:
    """What one ingest run row says."""

    source: str
    status: str
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    inserted: int
    updated: int
    unchanged: int
    rejected: int


@dataclass
class IngestClient:
    pool: ArqRedis
    sessions: async_sessionmaker[AsyncSession]

    async def run_ids(self) -> set[uuid.UUID]:
        async with self.sessions() as session:
            return set((await session.scalars(select(IngestRun.id))).all())

    async def enqueue(self, source: str) -> bool:
        """Enqueue with the project's enqueue_ingest; False when it was already queued."""
        request = IngestRequest(source)
        return (await enqueue_ingest(self.pool, self.sessions, request)).created

    async def runs(self, excluding: set[uuid.UUID]) -> list[RunFigures]:
        async with self.sessions() as session:
            rows = (await session.scalars(select(IngestRun))).all()
        return [_figures(run) for run in rows if run.id not in excluding]

    async def tenders(self) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(Tender)) or 0)


def _figures(run: IngestRun) -> RunFigures:
    return RunFigures(
        source=run.source,
        status=run.status,
        error=run.error,
        started_at=run.started_at,
        finished_at=run.finished_at,
        inserted=run.inserted,
        updated=run.updated,
        unchanged=run.unchanged,
        rejected=run.rejected,
    )


@asynccontextmanager
async def sessions_of(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on one database, for a case that reads or writes it directly."""
    engine = create_engine(Settings(database_url=database_url))
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def ingest_client(
    database_url: str, redis_url: str, queue: str
) -> AsyncIterator[IngestClient]:
    settings = Settings(database_url=database_url, redis_url=redis_url, queue_name=queue)
    engine = create_engine(settings)
    pool = await create_queue_pool(settings)
    try:
        yield IngestClient(pool, create_session_factory(engine))
    finally:
        await pool.aclose()
        await engine.dispose()
