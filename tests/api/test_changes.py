"""The feed of changes for alerting, and reads that go to the analytics/replica database."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings
from src.infra.database import create_engine, create_session_factory
from tests.support.api import BASE_TIME, build_app, clear_queue, record, running, store
from tests.support.servers import Servers, admin, copy_database

Sessions = async_sessionmaker[AsyncSession]


async def _version(sessions: Sessions, day: int, **fields: Any) -> None:
    await store(sessions, [record(1, source_updated_at=BASE_TIME + timedelta(days=day), **fields)])


async def test_the_feed_pages_and_resumes_from_its_cursor(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await store(sessions, [record(1)])
    await _version(sessions, 5, deadline_at=BASE_TIME + timedelta(days=40))
    await _version(sessions, 6, deadline_at=BASE_TIME + timedelta(days=40), status="cancelled")
    await _version(sessions, 7, deadline_at=BASE_TIME + timedelta(days=50), status="cancelled")

    first = (await client.get("/changes", params={"since": "2000-01-01", "limit": 2})).json()
    assert [c["field"] for c in first["items"]] == ["deadline_at", "status"]
    assert first["has_more"] is True
    assert first["items"][0]["cig"] == "0000001A0B"
    assert first["items"][0]["title"].startswith("Lavori")
    second = (await client.get("/changes", params={"cursor": first["next_cursor"]})).json()
    assert [c["new_value"] for c in second["items"]] == [
        (BASE_TIME + timedelta(days=50)).isoformat()
    ]
    assert second["has_more"] is False

    idle = (await client.get("/changes", params={"cursor": second["next_cursor"]})).json()
    assert idle == {"items": [], "next_cursor": second["next_cursor"], "has_more": False}
    await _version(sessions, 8, deadline_at=BASE_TIME + timedelta(days=50), status="complete")
    later = (await client.get("/changes", params={"cursor": second["next_cursor"]})).json()
    assert [(c["field"], c["old_value"], c["new_value"]) for c in later["items"]] == [
        ("status", "cancelled", "complete")
    ]


async def test_since_is_exclusive_and_may_be_in_the_future(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await store(sessions, [record(1)])
    await _version(sessions, 5, status="cancelled")
    [change] = (await client.get("/changes", params={"since": "2000-01-01T00:00:00Z"})).json()[
        "items"
    ]
    after = (await client.get("/changes", params={"since": change["changed_at"]})).json()
    assert after["items"] == []
    future = (await client.get("/changes", params={"since": "2999-01-01T00:00:00+02:00"})).json()
    assert future["items"] == [] and future["next_cursor"]


async def test_the_feed_needs_since_or_a_cursor(client: httpx.AsyncClient) -> None:
    response = await client.get("/changes")
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["query", "since"]
    assert "ISO 8601" in error["msg"]
    bad = await client.get("/changes", params={"cursor": "e30"})
    assert bad.status_code == 422


@pytest.fixture
async def replica_url(servers: Servers, template_database: str) -> AsyncIterator[str]:
    """A second database standing in for a read replica (it lags: it has other rows)."""
    name = await copy_database(servers, template_database)
    yield servers.database(name)
    await admin(servers, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_lists_and_feeds_read_the_analytics_database(
    api_settings: Settings, sessions: Sessions, replica_url: str
) -> None:
    settings = Settings(**{**api_settings.model_dump(), "analytics_database_url": replica_url})
    replica = create_engine(settings, url=replica_url)
    try:
        await store(sessions, [record(1)])
        await store(create_session_factory(replica), [record(2)])
        try:
            async with running(build_app(settings)) as client:
                listed = (await client.get("/tenders")).json()["items"]
                assert [item["cig"] for item in listed] == ["0000002A0B"], "list: replica"
                one = await client.get("/tenders/by-cig/0000001A0B")
                assert one.status_code == 200, "a single tender is read from the primary"
                health = (await client.get("/healthz")).json()
                assert health["analytics"] == "ok"
        finally:
            await clear_queue(settings)
    finally:
        await replica.dispose()


def _cursor(kind: str, moment: str) -> str:
    """A cursor as the API writes them, holding `moment` (what a client may tamper with)."""
    data = orjson.dumps([kind, moment, str(uuid.uuid4())])
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+05:00",  # year 0 in UTC
        "9999-12-31T23:00:00-05:00",  # year 10000 in UTC
        "0001-01-01T00:00:00+00:00",
        "9999-12-31T23:59:59.999999+00:00",
    ],
)
async def test_a_cursor_at_the_ends_of_time_is_a_422_or_a_page(
    client: httpx.AsyncClient, sessions: Sessions, moment: str
) -> None:
    """A cursor is opaque but the client holds it: one edited to a moment outside what
    PostgreSQL and Python share is a 422 that says so, never a 500; the extreme moments
    that are representable are ordinary pages."""
    await store(sessions, [record(1)])
    for path, kind in (("/tenders", "t"), ("/changes", "c")):
        response = await client.get(path, params={"cursor": _cursor(kind, moment)})
        if moment.endswith("+00:00"):
            assert response.status_code == 200, response.text
        else:
            assert response.status_code == 422, response.text
            error = response.json()["detail"][0]
            assert error["loc"] == ["query", "cursor"]
            assert "next_cursor" in error["msg"]
    for since in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"):
        response = await client.get("/changes", params={"since": since})
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["query", "since"]
    for since in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"):
        response = await client.get("/changes", params={"since": since})
        assert response.status_code == 200, response.text
