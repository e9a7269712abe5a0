"""Reading and writing the database the way a test client would."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from configs.config import Settings
from src.domain.runs.entities import IngestRun
from src.domain.runs.request import IngestRequest
from src.domain.tender.entities import Tender, TenderChange
from src.infra.database import create_engine, create_session_factory
from src.infra.queue import create_queue_pool
from src.ingest.enqueue import Enqueued, enqueue_ingest


async def run_row(db_session: AsyncSession, run_id: str) -> IngestRun:
    """The run of that id as the database has it now (read again, not from the session's
    identity map)."""
    run = await db_session.get(IngestRun, uuid.UUID(run_id))
    assert run is not None
    await db_session.refresh(run)
    return run


async def latest_run(sessions: async_sessionmaker[AsyncSession]) -> IngestRun | None:
    async with sessions() as session:
        result = await session.execute(
            select(IngestRun).order_by(IngestRun.queued_at.desc()).limit(1)
        )
        return result.scalar_one_or_none()


def sessions_of(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


async def table_state(engine: AsyncEngine) -> dict[str, Any]:
    """What a clean run is compared on: every row's identity and content, and the history."""
    async with create_session_factory(engine)() as session:
        rows = (
            await session.execute(
                select(Tender.identity_key, Tender.content_hash).order_by(Tender.identity_key)
            )
        ).all()
        changes = await session.scalar(select(func.count()).select_from(TenderChange))
    keys = [key for key, _ in rows]
    return {"rows": len(rows), "distinct": len(set(keys)), "content": rows, "changes": changes}


async def enqueue_sources(env: dict[str, str], *sources: str) -> list[Enqueued]:
    """Enqueue sources as a client of the workers started with `env` would."""
    settings = Settings(
        database_url=env["DATABASE_URL"], redis_url=env["REDIS_URL"], queue_name=env["QUEUE_NAME"]
    )
    engine = create_engine(settings)
    pool = await create_queue_pool(settings)
    try:
        sessions = create_session_factory(engine)
        return [await enqueue_ingest(pool, sessions, IngestRequest(source)) for source in sources]
    finally:
        await pool.aclose()
        await engine.dispose()
