"""Every error is JSON: PostgreSQL or Redis down, unreachable, not migrated → 503 with a reason
and Retry-After; a bug → 500 with a request id. Real servers, real closed ports; a password in
a URL never reaches a response."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import asyncpg
import httpx
import pytest
import redis.exceptions
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from configs.config import Settings
from src.api.errors import describe_outage, service_of
from src.infra.database import create_engine
from src.infra.database.migrate import downgrade
from tests.support.api import build_app, clear_queue, running
from tests.support.paths import FIXTURES
from tests.support.servers import Servers, admin

PASSWORD = "pw-s3cr@t:with/slash"
RETRY = "retry in a few seconds"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def with_(settings: Settings, **changes: object) -> Settings:
    return Settings(**{**settings.model_dump(), **changes})


def assert_no_password(responses: list[httpx.Response]) -> None:
    for response in responses:
        for secret in (PASSWORD, quote(PASSWORD, safe=""), "s3cr@t"):
            assert secret not in response.text
            assert all(secret not in value for value in response.headers.values())


def assert_unavailable(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == "5"
    assert response.json() == {"detail": detail}


@pytest.fixture
def source_file(sources_dir: Path) -> str:
    path = sources_dir / "tenders.json"
    path.write_bytes((FIXTURES / "ocds" / "bare_records.json").read_bytes())
    return str(path)


async def calls(client: httpx.AsyncClient, source: str) -> list[httpx.Response]:
    """A read, a read of one, a follow-up and a submission: each needs PostgreSQL."""
    return [
        await client.get("/tenders"),
        await client.get(f"/tenders/{uuid.uuid4()}"),
        await client.get(f"/ingest-jobs/{uuid.uuid4()}"),
        await client.post("/ingest-jobs", json={"source": source}),
    ]


async def test_postgres_down_is_503_with_the_address(
    api_settings: Settings, source_file: str
) -> None:
    port = closed_port()
    down = f"postgresql://tenders:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/tenders"
    settings = with_(api_settings, database_url=down)
    reason = f"postgres: connection refused at 127.0.0.1:{port}; {RETRY}"
    try:
        async with running(build_app(settings)) as client:
            health = await client.get("/healthz")
            answers = await calls(client, source_file)
    finally:
        await clear_queue(settings)
    assert health.status_code == 503
    assert health.headers["retry-after"] == "5"
    assert health.json() == {
        "status": "unavailable",
        "postgres": "unavailable (ConnectionRefusedError)",
        "redis": "ok",
        "analytics": None,
        "detail": reason,
    }
    for answer in answers:
        assert_unavailable(answer, reason)
    assert_no_password([health, *answers])


async def test_redis_down_the_app_starts_and_reads_still_work(
    api_settings: Settings, source_file: str
) -> None:
    port = closed_port()
    down = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/0"
    settings = with_(api_settings, redis_url=down)
    reason = f"redis: connection refused at 127.0.0.1:{port}; {RETRY}"
    async with running(build_app(settings)) as client:
        health = await client.get("/healthz")
        read = await client.get("/tenders")
        submitted = await client.post("/ingest-jobs", json={"source": source_file})
    assert health.status_code == 503
    assert health.json()["detail"] == reason
    assert health.json()["postgres"] == "ok"
    assert read.status_code == 200, read.text
    assert_unavailable(submitted, reason)
    assert_no_password([health, read, submitted])


@pytest.fixture
async def empty_database(servers: Servers) -> AsyncIterator[str]:
    name = f"tenders_empty_{uuid.uuid4().hex[:10]}"
    await admin(servers, f'CREATE DATABASE "{name}"')
    yield servers.database(name)
    await admin(servers, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def address_of(url: str) -> str:
    """host:port, or the socket folder of a unix-socket URL (the embedded server's)."""
    parsed = make_url(url)
    socket_dir = parsed.query.get("host")
    if parsed.host is None and isinstance(socket_dir, str):
        return socket_dir
    return f"{parsed.host}:{parsed.port or 5432}"


async def test_a_database_not_migrated_says_run_db_upgrade(
    api_settings: Settings, empty_database: str, source_file: str
) -> None:
    settings = with_(api_settings, database_url=empty_database)
    where = address_of(empty_database)
    reason = f"postgres: the database is not migrated at {where}; run `tenders db upgrade`"
    try:
        async with running(build_app(settings)) as client:
            health = await client.get("/healthz")
            answers = await calls(client, source_file)
    finally:
        await clear_queue(settings)
    assert health.status_code == 503
    assert health.json()["detail"] == reason
    for answer in answers:
        assert_unavailable(answer, reason)


async def test_a_database_behind_the_code_is_not_migrated(
    api_settings: Settings, fresh_database_url: str
) -> None:
    engine = create_engine(Settings(database_url=fresh_database_url))
    try:
        await downgrade(engine, "-1")
    finally:
        await engine.dispose()
    async with running(build_app(api_settings)) as client:
        health = await client.get("/healthz")
    assert health.status_code == 503
    assert "not migrated" in health.json()["detail"]


async def test_a_missing_database_is_named(api_settings: Settings, servers: Servers) -> None:
    missing = servers.database(f"no_such_db_{uuid.uuid4().hex[:6]}")
    settings = with_(api_settings, database_url=missing)
    name = make_url(missing).database  # without a unix socket's `?host=`
    reason = (
        f'postgres: database "{name}" does not exist at {address_of(missing)}; '
        "create it or correct DATABASE_URL"
    )
    async with running(build_app(settings)) as client:
        health = await client.get("/healthz")
        read = await client.get("/tenders")
    assert health.json()["detail"] == reason
    assert_unavailable(read, reason)


def app_with_a_bug(settings: Settings) -> FastAPI:
    app = build_app(settings)

    async def broken() -> None:
        raise RuntimeError(f"a bug that mentions {PASSWORD}")

    app.add_api_route("/broken", broken)
    return app


async def test_a_bug_is_a_json_500_with_a_request_id_and_the_trace_in_the_log(
    api_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="tenders.api")
    async with running(app_with_a_bug(api_settings)) as client:
        response = await client.get("/broken")
        given = await client.get("/broken", headers={"X-Request-ID": "lb-1234"})
    assert response.status_code == 500
    body = response.json()
    assert body == {"detail": "internal error", "request_id": body["request_id"]}
    assert response.headers["x-request-id"] == body["request_id"]
    assert given.json()["request_id"] == "lb-1234"
    assert_no_password([response, given])
    logged = [r for r in caplog.records if body["request_id"] in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert "GET /broken" in logged[0].getMessage()


async def test_other_errors_are_json_too(client: httpx.AsyncClient) -> None:
    missing = await client.get("/no-such-route")
    wrong_method = await client.delete("/tenders")
    bad_host = await client.get("/tenders", headers={"host": "evil.example"})
    for response, status in ((missing, 404), (wrong_method, 405), (bad_host, 400)):
        assert response.status_code == status
        assert response.headers["content-type"] == "application/json"
        assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            asyncpg.InvalidPasswordError('password authentication failed for user "t"'),
            "postgres: authentication failed at db:5432; "
            "check the user and password in DATABASE_URL",
        ),
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            "postgres: the host name does not resolve at db:5432; check DATABASE_URL",
        ),
        (
            asyncpg.CannotConnectNowError("the database system is starting up"),
            f"postgres: the server is starting up at db:5432; {RETRY}",
        ),
        (TimeoutError(), f"postgres: no answer (timed out) at db:5432; {RETRY}"),
    ],
)
def test_what_each_outage_says(error: Exception, expected: str) -> None:
    """Conditions the test servers cannot be put in (they trust every password)."""
    assert service_of(error) == "postgres"
    outage = describe_outage(error, "postgres", "db:5432", "DATABASE_URL")
    assert outage is not None and outage.message == expected


def test_redis_refusing_the_password_says_so() -> None:
    error = redis.exceptions.AuthenticationError("invalid username-password pair")
    assert service_of(error) == "redis"
    outage = describe_outage(error, "redis", "redis:6379", "REDIS_URL")
    assert outage is not None
    assert outage.message == (
        "redis: authentication failed at redis:6379; check the password in REDIS_URL"
    )


def test_a_bug_is_not_an_outage() -> None:
    assert service_of(ValueError("bug")) is None
    assert describe_outage(ValueError("bug"), "postgres", "db:5432", "DATABASE_URL") is None
