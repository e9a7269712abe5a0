"""Watches over HTTP with two tokens: each sees and changes its own only; the secret is in
the POST's answer and nowhere else; webhooks pass the source policy; deliveries and replays
on real PostgreSQL and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings
from configs.tokens import ApiToken, hash_token
from src.domain.alerts.entities import Delivery, WatchKey
from src.domain.alerts.services.deliveries import record_failed
from src.domain.alerts.services.matching import match_pending
from src.infra.queue import create_queue_pool, dispatch_job_id
from tests.support.api import TOKENS, build_app, record, running, store

OTHER_TOKEN = "tnd_other-reader-and-writer"
OTHER = ApiToken(name="other", scopes=frozenset({"read", "write"}), sha256=hash_token(OTHER_TOKEN))
HOOK = "https://feeds.example.org/hook"


@pytest.fixture
def two_tokens(api_settings: Settings) -> Settings:
    return api_settings.model_copy(update={"api_tokens": [*TOKENS.values(), OTHER]})


@pytest.fixture
async def other(two_tokens: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(build_app(two_tokens), token=OTHER_TOKEN) as client:
        yield client


@pytest.fixture
async def mine(two_tokens: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(build_app(two_tokens)) as client:
        yield client


async def made(client: httpx.AsyncClient, name: str, **spec: Any) -> dict[str, Any]:
    if "email" not in spec:
        spec.setdefault("webhook_url", HOOK)
    response = await client.post("/watches", json={"name": name, **spec})
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_each_token_sees_and_changes_its_own_watches_only(
    mine: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    created = await made(mine, "mense", cpv=["5552"], nuts=["itc4"], words="Mensa scolastica")
    assert created["secret"].startswith("whsec_")
    assert created["cpv"] == ["5552"] and created["nuts"] == ["ITC4"]
    assert created["words"] == "mensa scolastica"
    assert created["webhook_url"] == HOOK and created["paused"] is False
    assert created["deliveries"] == {"pending": 0, "sent": 0, "failed": 0}
    theirs = await made(other, "mense", email="alerts@example.org", digest="daily")
    assert theirs["id"] != created["id"], "names are unique per token"

    shown = (await mine.get(f"/watches/{created['id']}")).json()
    assert "secret" not in shown
    assert {k: v for k, v in created.items() if k != "secret"} == shown
    listed = (await mine.get("/watches")).json()["items"]
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert [w["id"] for w in (await other.get("/watches")).json()["items"]] == [theirs["id"]]

    foreign = f"/watches/{theirs['id']}"
    assert (await mine.get(foreign)).status_code == 404
    assert (await mine.patch(foreign, json={"paused": True})).status_code == 404
    assert (await mine.get(foreign + "/deliveries")).status_code == 404
    assert (await mine.post(foreign + "/replay", json={"since": "2025-01-01"})).status_code == 404
    assert (await mine.delete(foreign)).status_code == 404
    assert (await other.get(foreign)).json()["paused"] is False, "left as it was"

    twice = await mine.post("/watches", json={"name": "mense", "webhook_url": HOOK})
    assert twice.status_code == 409 and "exists already" in twice.json()["detail"]
    assert (await mine.delete(f"/watches/{created['id']}")).status_code == 204
    assert (await mine.get(f"/watches/{created['id']}")).status_code == 404
    assert (await other.get(foreign)).status_code == 200


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"webhook_url": HOOK, "cpv": ["45x"]}, "cpv", "not a CPV code"),
        ({"webhook_url": HOOK, "email": "a@example.org"}, None, "exactly one target"),
        ({}, None, "exactly one target"),
        ({"email": "a@example.org", "statuses": ["open"]}, "statuses", "unknown status"),
        ({"webhook_url": HOOK, "events": ["sometimes"]}, "events", "new"),
        ({"webhook_url": "https://intranet.example.org/x"}, "webhook_url", "PRIVATE_WEBHOOKS"),
        ({"webhook_url": "http://localhost:8080/x"}, "webhook_url", "loopback"),
        ({"webhook_url": "https://nowhere.example.org/x"}, "webhook_url", "cannot be resolved"),
        ({"webhook_url": "https://u:p@feeds.example.org/x"}, "webhook_url", "password"),
        ({"webhook_url": "http://[::1/x"}, "webhook_url", "not a URL"),
        ({"email": "a\x00@example.org"}, "email", "not an email"),
    ],
)
async def test_a_wrong_watch_is_422_with_the_reason(
    mine: httpx.AsyncClient, spec: dict[str, Any], field: str | None, words: str
) -> None:
    response = await mine.post("/watches", json={"name": "w", **spec})
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert any(
        (field is None or problem["loc"][:2] == ["body", field]) and words in problem["msg"]
        for problem in problems
    ), problems
    assert (await mine.get("/watches")).json()["items"] == [], "nothing was stored"


async def test_private_webhooks_when_the_operator_allows_them(api_settings: Settings) -> None:
    allowed = api_settings.model_copy(update={"allow_private_webhooks": True})
    async with running(build_app(allowed)) as client:
        watch = await made(client, "intranet", webhook_url="https://INTRANET.example.org:443/x")
    assert watch["webhook_url"] == "https://intranet.example.org/x", "stored normalised"


async def test_scopes(api_settings: Settings, mine: httpx.AsyncClient) -> None:
    watch = await made(mine, "w")
    body = {"name": "x", "webhook_url": HOOK}
    async with running(build_app(api_settings), token="tnd_reader") as reader:
        assert (await reader.get("/watches")).status_code == 200
        assert (await reader.post("/watches", json=body)).status_code == 403
        assert (await reader.delete(f"/watches/{watch['id']}")).status_code == 403
    async with running(build_app(api_settings), token="tnd_writer") as writer:
        assert (await writer.get("/watches")).status_code == 403
        assert (await writer.post("/watches", json=body)).status_code == 201
    async with running(build_app(api_settings), token="tnd_scraper") as scraper:
        assert (await scraper.get("/watches")).status_code == 403
    async with running(build_app(api_settings), token=None) as anonymous:
        assert (await anonymous.get("/watches")).status_code == 401


async def _keys(sessions: async_sessionmaker[AsyncSession], watch_id: str) -> list[str]:
    async with sessions() as session:
        found = await session.scalars(
            select(WatchKey.key)
            .where(WatchKey.watch_id == uuid.UUID(watch_id))
            .order_by(WatchKey.key)
        )
        return list(found)


async def test_patch_changes_filters_and_pauses_and_resumes(
    mine: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    watch = await made(mine, "w", cpv=["45"])
    await made(mine, "taken", email="a@example.org")
    url = f"/watches/{watch['id']}"
    assert await _keys(sessions, watch["id"]) == ["cpv:45"]

    changed = await mine.patch(url, json={"cpv": None, "nuts": ["ITC4", "ITI"], "words": "scuola"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["cpv"] == [] and changed.json()["nuts"] == ["ITC4", "ITI"]
    assert await _keys(sessions, watch["id"]) == ["nuts:ITC4", "nuts:ITI"], "index rewritten"
    retarget = {"webhook_url": None, "email": "b@example.org", "digest": "hourly"}
    assert (await mine.patch(url, json=retarget)).json()["email"] == "b@example.org"

    assert (await mine.patch(url, json={"name": "taken"})).status_code == 409
    both = await mine.patch(url, json={"webhook_url": HOOK})
    assert both.status_code == 422 and "exactly one target" in both.text
    private = {"webhook_url": "https://intranet.example.org/x", "email": None}
    assert (await mine.patch(url, json=private)).status_code == 422
    assert (await mine.get(url)).json()["email"] == "b@example.org", "a refused patch keeps all"

    paused = (await mine.patch(url, json={"paused": True, "reason": "holidays"})).json()
    assert paused["paused"] is True and paused["paused_reason"] == "holidays"
    resumed = (await mine.patch(url, json={"paused": False})).json()
    assert resumed["paused"] is False and resumed["paused_reason"] is None
    assert resumed["due_again"] == 0


async def _match(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session, session.begin():
        return (await match_pending(session)).deliveries


async def test_deliveries_failed_ones_and_a_replay(
    mine: httpx.AsyncClient,
    other: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    api_settings: Settings,
) -> None:
    watch = await made(mine, "lavori", cpv=["4523"])
    await made(other, "lavori", cpv=["4523"])
    await store(sessions, [record(1), record(2), record(3, cpv="90910000-9")])
    assert await _match(sessions) == 4, "two tenders, to two watches"
    url = f"/watches/{watch['id']}"
    items = (await mine.get(url + "/deliveries")).json()["items"]
    assert sorted(item["cig"] for item in items) == ["0000001A0B", "0000002A0B"]
    assert {(item["kind"], item["status"], item["replay"]) for item in items} == {
        ("new", "pending", False)
    }
    assert (await mine.get(url + "/deliveries?limit=1")).json()["items"][:1] == items[:1]

    async with sessions() as session, session.begin():
        await record_failed(
            session,
            uuid.UUID(watch["id"]),
            [uuid.UUID(items[0]["id"])],
            datetime.now(UTC),
            response_code=500,
            error="HTTP 500 from the receiver",
            retry_at=None,
            pause_after=2,
        )
    failed = (await mine.get(url + "/deliveries", params={"failed": "true"})).json()["items"]
    assert [(d["id"], d["status"], d["response_code"]) for d in failed] == [
        (items[0]["id"], "failed", 500)
    ]
    assert (await mine.get(url)).json()["consecutive_failures"] == 1

    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    replayed = await mine.post(url + "/replay", json={"since": since})
    assert replayed.status_code == 202, replayed.text
    assert replayed.json() == {"watch_id": watch["id"], "queued": 2, "dispatched": True}
    after = (await mine.get(url + "/deliveries")).json()["items"]
    assert sorted(d["event_id"] for d in after if d["replay"]) == sorted(
        d["event_id"] for d in items
    ), "the same event ids, marked as replays"
    assert (await mine.get(url)).json()["deliveries"] == {"pending": 3, "sent": 0, "failed": 1}
    pool = await create_queue_pool(api_settings)
    try:
        assert await pool.exists(f"arq:job:{dispatch_job_id(api_settings.queue_name)}")
    finally:
        await pool.aclose()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    nothing = await mine.post(url + "/replay", json={"since": future})
    assert nothing.json()["queued"] == 0

    assert (await mine.delete(url)).status_code == 204
    async with sessions() as session:
        left = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.watch_id == uuid.UUID(watch["id"]))
        )
    assert left == 0, "a removed watch's deliveries go with it"


async def test_a_paused_watch_resumed_has_its_deliveries_due_again(
    mine: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    watch = await made(mine, "w")
    url = f"/watches/{watch['id']}"
    await mine.patch(url, json={"paused": True})
    await store(sessions, [record(1)])
    assert await _match(sessions) == 1, "events collect while paused"
    resumed = (await mine.patch(url, json={"paused": False})).json()
    assert resumed["due_again"] == 1 and resumed["paused"] is False


async def test_watches_are_in_the_schema_without_secrets(mine: httpx.AsyncClient) -> None:
    schema = (await mine.get("/openapi.json")).json()
    paths = schema["paths"]
    assert {"/watches", "/watches/{watch_id}", "/watches/{watch_id}/deliveries"} <= set(paths)
    answers = [
        name
        for name, model in schema["components"]["schemas"].items()
        if "secret" in model.get("properties", {})
    ]
    assert answers == ["WatchCreated"]
