"""The real API app for tests: built with a fake DNS resolver (no test traffic leaves the
machine), run with its lifespan behind an httpx client that holds a token with every scope,
and seeded with valid tenders."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings
from configs.tokens import ApiToken, hash_token
from src.api import create_app
from src.api.deps import get_resolver
from src.domain.tender.schemas import TenderRecord
from src.domain.tender.services import TenderService
from src.infra.queue import create_queue_pool
from src.infra.source_policy import Resolver

FAKE_DNS: dict[str, list[str]] = {
    "feeds.example.org": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "intranet.example.org": ["10.1.2.3"],
    "mixed.example.org": ["93.184.215.14", "127.0.0.1"],
    "localhost": ["127.0.0.1", "::1"],
}
BASE_TIME = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
# The clients' base URL's host, which the app's API_ALLOWED_HOSTS must name.
TEST_HOST = "api.test"
TEST_TOKEN = "tnd_test-token-with-every-scope"
TOKENS = {
    TEST_TOKEN: ApiToken(
        name="test", scopes=frozenset({"read", "write", "metrics"}), sha256=hash_token(TEST_TOKEN)
    ),
    "tnd_reader": ApiToken(
        name="reader", scopes=frozenset({"read"}), sha256=hash_token("tnd_reader")
    ),
    "tnd_writer": ApiToken(
        name="writer", scopes=frozenset({"write"}), sha256=hash_token("tnd_writer")
    ),
    "tnd_scraper": ApiToken(
        name="scraper", scopes=frozenset({"metrics"}), sha256=hash_token("tnd_scraper")
    ),
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fake_resolver(host: str) -> list[str]:
    try:
        return FAKE_DNS[host]
    except KeyError:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


def build_app(settings: Settings, resolver: Resolver = fake_resolver) -> FastAPI:
    app = create_app(settings)
    app.dependency_overrides[get_resolver] = lambda: resolver
    return app


@asynccontextmanager
async def running(app: FastAPI, token: str | None = TEST_TOKEN) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan (engines, arq pool) running, and a client talking to it
    with `token` (None: with no token)."""
    transport = httpx.ASGITransport(app=app)
    headers = bearer(token) if token is not None else {}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url=f"http://{TEST_HOST}", headers=headers
        ) as client,
    ):
        yield client


async def clear_queue(settings: Settings) -> None:
    pool = await create_queue_pool(settings)
    try:
        queued = await pool.zrange(settings.queue_name, 0, -1)
        await pool.delete(settings.queue_name, *(b"arq:job:" + job_id for job_id in queued))
    finally:
        await pool.aclose()


def record(n: int, **overrides: Any) -> TenderRecord:
    """A valid ANAC lot; `n` makes its CIG and procedure unique."""
    fields: dict[str, Any] = {
        "source": "anac",
        "procedure_id": f"P{n:05d}",
        "cig": f"{n:07d}A0B",
        "title": f"Lavori di manutenzione stradale lotto {n}",
        "description": "Manutenzione ordinaria delle strade comunali",
        "buyer_id": "80012345678",
        "buyer_name": "Comune di Esempio",
        "cpv": "45233141-9",
        "status": "active",
        "amount": "125000.50",
        "currency": "EUR",
        "published_at": BASE_TIME + timedelta(days=n),
        "deadline_at": BASE_TIME + timedelta(days=30 + n),
        "source_updated_at": BASE_TIME + timedelta(days=n),
    }
    fields.update(overrides)
    return TenderRecord(**fields)


async def store(
    sessions: async_sessionmaker[AsyncSession], records: Sequence[TenderRecord]
) -> None:
    """One committed transaction, as an ingest batch writes it."""
    async with sessions() as session, session.begin():
        await TenderService.upsert_many(session, records)
