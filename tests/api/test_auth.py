"""Who may use the API: tokens and their scopes, the rate per token, the cap on queued runs
per token, the Host header, and the docs."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings
from configs.tokens import ApiToken, hash_token, match, new_token, parse_tokens
from src.domain.runs.entities import IngestRun
from tests.support.api import TEST_TOKEN, bearer, build_app, clear_queue, running

# Every route but /healthz, with a request it would answer with a token.
PROTECTED = [
    ("GET", "/tenders"),
    ("GET", f"/tenders/{uuid.uuid4()}"),
    ("GET", "/tenders/by-cig/0000001A0B"),
    ("GET", f"/tenders/{uuid.uuid4()}/history"),
    ("GET", "/changes?since=2000-01-01"),
    ("GET", f"/ingest-jobs/{uuid.uuid4()}"),
    ("POST", "/ingest-jobs"),
    ("GET", "/watches"),
    ("POST", "/watches"),
    ("GET", f"/watches/{uuid.uuid4()}"),
    ("PATCH", f"/watches/{uuid.uuid4()}"),
    ("DELETE", f"/watches/{uuid.uuid4()}"),
    ("GET", f"/watches/{uuid.uuid4()}/deliveries"),
    ("POST", f"/watches/{uuid.uuid4()}/replay"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/no-such-route"),
]


def with_changes(settings: Settings, **changes: object) -> Settings:
    return Settings(**{**settings.model_dump(), **changes})


async def call(client: httpx.AsyncClient, method: str, path: str, token: str) -> int:
    body = {"source": "https://feeds.example.org/x.json"} if method == "POST" else None
    response = await client.request(method, path, json=body, headers=bearer(token))
    return response.status_code


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("tnd_not-a-known-token"),
        {"Authorization": f"Basic {TEST_TOKEN}"},
        {"Authorization": "Bearer "},
        bearer("x" * 10_000),
    ],
    ids=["none", "unknown", "basic", "empty", "huge"],
)
async def test_every_route_but_healthz_needs_a_known_token(
    api_settings: Settings, headers: dict[str, str]
) -> None:
    try:
        async with running(build_app(api_settings), token=None) as client:
            for method, path in PROTECTED:
                response = await client.request(method, path, headers=headers, json={})
                assert response.status_code == 401, (method, path, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
                assert "token" in response.json()["detail"]
            health = await client.get("/healthz", headers=headers)
            assert health.status_code == 200
            assert set(health.json()) == {"status", "postgres", "redis", "analytics"}
    finally:
        await clear_queue(api_settings)


async def test_each_scope_opens_its_routes_only(api_settings: Settings) -> None:
    expected = {
        # token: (GET /tenders, POST /ingest-jobs, GET /metrics, GET /openapi.json)
        "tnd_reader": (200, 403, 403, 200),
        "tnd_writer": (403, 202, 403, 403),
        "tnd_scraper": (403, 403, 200, 403),
        TEST_TOKEN: (200, 202, 200, 200),
    }
    try:
        async with running(build_app(api_settings), token=None) as client:
            for token, statuses in expected.items():
                got = (
                    await call(client, "GET", "/tenders", token),
                    await call(client, "POST", "/ingest-jobs", token),
                    await call(client, "GET", "/metrics", token),
                    await call(client, "GET", "/openapi.json", token),
                )
                assert got == statuses, token
            refused = await client.get("/metrics", headers=bearer("tnd_reader"))
            assert refused.json() == {"detail": "the token 'reader' lacks the metrics scope"}
    finally:
        await clear_queue(api_settings)


async def test_without_tokens_the_api_is_closed_unless_insecure(api_settings: Settings) -> None:
    closed = with_changes(api_settings, api_tokens=[])
    async with running(build_app(closed)) as client:
        response = await client.get("/tenders")
        assert response.status_code == 401
        assert "API_TOKENS" in response.json()["detail"]
        assert (await client.get("/healthz")).status_code == 200
    insecure = with_changes(api_settings, api_tokens=[], api_insecure=True)
    async with running(build_app(insecure), token=None) as client:
        assert (await client.get("/tenders")).status_code == 200
    configured = with_changes(api_settings, api_insecure=True)
    async with running(build_app(configured), token=None) as client:
        assert (await client.get("/tenders")).status_code == 401, "tokens win over insecure"


async def test_requests_beyond_the_rate_are_429_per_token(api_settings: Settings) -> None:
    # One request a minute after a burst of three: the fourth is refused whatever the speed.
    limited = with_changes(api_settings, api_rate_per_minute=1, api_rate_burst=3)
    async with running(build_app(limited)) as client:
        statuses = [(await client.get("/tenders")).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        refused = await client.get("/tenders")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "a minute" in refused.json()["detail"]
        assert (await client.get("/metrics")).status_code == 429, "one bucket for all routes"
        other = await client.get("/tenders", headers=bearer("tnd_reader"))
        assert other.status_code == 200, "another token has its own bucket"
        assert (await client.get("/healthz")).status_code == 200, "health is never limited"


async def test_queued_runs_are_capped_per_token(
    api_settings: Settings, sources_dir: Path, sessions: async_sessionmaker[AsyncSession]
) -> None:
    capped = with_changes(api_settings, api_max_queued_runs=3)
    sources = []
    for n in range(10):
        source = sources_dir / f"source-{n}.json"
        source.write_text("[]")
        sources.append(str(source))
    try:
        async with running(build_app(capped)) as client:
            # All at once: the cap holds however the requests interleave.
            answers = await asyncio.gather(
                *(client.post("/ingest-jobs", json={"source": s}) for s in sources[:8])
            )
            statuses = sorted(answer.status_code for answer in answers)
            assert statuses == [202] * 3 + [429] * 5
            full = next(answer for answer in answers if answer.status_code == 429)
            assert full.headers["retry-after"] == "60"
            assert "API_MAX_QUEUED_RUNS=3" in full.json()["detail"]
            other = await client.post(
                "/ingest-jobs", json={"source": sources[9]}, headers=bearer("tnd_writer")
            )
            assert other.status_code == 202, "another token has its own cap"
    finally:
        await clear_queue(capped)
    async with sessions() as session:
        submitters = (await session.scalars(select(IngestRun.submitted_by))).all()
    assert sorted(s or "" for s in submitters) == ["test", "test", "test", "writer"]


async def test_requests_for_another_host_are_refused(api_settings: Settings) -> None:
    app = build_app(api_settings)
    async with running(app) as client:
        assert (await client.get("/healthz")).status_code == 200
        for host in ("evil.example", "localhost", "api.test.evil.example"):
            response = await client.get("/tenders", headers={"host": host})
            assert response.status_code == 400, host
            assert response.json() == {"detail": "Invalid host header"}


async def test_docs_are_off_and_the_schema_needs_a_read_token(api_settings: Settings) -> None:
    async with running(build_app(api_settings)) as client:
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/redoc")).status_code == 404
        schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    operations = [op for path in schema["paths"].values() for op in path.values()]
    secured = [op["operationId"] for op in operations if op.get("security")]
    assert len(secured) == len(operations) - 1, "every operation but /healthz"
    assert {"401", "403", "429"} <= set(schema["paths"]["/tenders"]["get"]["responses"])
    docs = with_changes(api_settings, api_docs=True)
    async with running(build_app(docs), token=None) as client:
        assert (await client.get("/openapi.json")).status_code == 200
        assert (await client.get("/docs")).status_code == 200
        assert (await client.get("/tenders")).status_code == 401


def test_tokens_as_an_operator_writes_them() -> None:
    token, entry = new_token("ci", ["write", "read"])
    assert token.startswith("tnd_") and len(token) > 40
    assert entry.entry() == f"ci:read,write:{hash_token(token)}"
    other = "a" * 64
    for written in (
        f"{entry.entry()}; grafana:metrics:{other}",
        f"{entry.entry()},grafana:metrics:{other}",
        f"  {entry.entry()}\n grafana:metrics:{other.upper()} ",
        f'["{entry.entry()}", "grafana:metrics:{other}"]',
    ):
        tokens = parse_tokens(written)
        assert [t.name for t in tokens] == ["ci", "grafana"], written
        assert tokens[1] == ApiToken(name="grafana", scopes=frozenset({"metrics"}), sha256=other)
        assert match(tokens, token) == tokens[0]
        assert match(tokens, token + "x") is None
        assert match(tokens, "") is None
    assert Settings(api_tokens=entry.entry()).api_tokens == [entry]


@pytest.mark.parametrize(
    ("written", "error"),
    [
        ("ci:read:tnd_the-token-itself", "entry 1 is not NAME:SCOPES:SHA256"),
        (f"ci:read:{'a' * 64} ci:admin:{'b' * 64}", "unknown scope admin"),
        (f"ci:read:{'a' * 64} ci:write:{'b' * 64}", "names ci more than once"),
        (f"ci:read:{'a' * 65}", "entry 1 is not"),
        (f"c i:read:{'a' * 64}", "entry 1 is not"),
        ('["ci:read"', "not a JSON list"),
    ],
)
def test_wrong_token_entries_are_refused_without_echoing_them(written: str, error: str) -> None:
    with pytest.raises(ValueError, match=error) as refused:
        Settings(api_tokens=written)
    assert "tnd_the-token-itself" not in str(refused.value)


def test_allowed_hosts_as_a_comma_list_or_json() -> None:
    assert Settings(api_allowed_hosts="[::1], example.org").api_allowed_hosts == [
        "[::1]",
        "example.org",
    ]
    assert Settings(api_allowed_hosts='["*.example.org"]').api_allowed_hosts == ["*.example.org"]
    with pytest.raises(ValueError, match="a wildcard is"):
        Settings(api_allowed_hosts="ex*ample.org")
    with pytest.raises(ValueError, match="API_ALLOWED_HOSTS is empty"):
        Settings(api_allowed_hosts=" ")
