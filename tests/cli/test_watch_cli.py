"""`tenders watch …`, `tenders deliveries` and `tenders ingest --quiet` as a user runs them:
real processes on real PostgreSQL and Redis, captured output, exit codes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings
from src.domain.alerts.entities import Delivery, TenderEvent, Watch
from src.domain.alerts.services.deliveries import record_failed
from src.domain.alerts.services.matching import match_pending
from src.domain.runs.entities import IngestRun
from src.domain.tender.entities import Tender
from src.infra.database import create_engine, create_session_factory
from src.infra.queue import dispatch_job_id
from tests.support.api import record, store
from tests.support.paths import FIXTURES
from tests.support.processes import run_cli

pytestmark = pytest.mark.slow

PUBLIC_HOOK = "https://93.184.215.14/hook"  # an address literal: no DNS asked
LOCAL_HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture
async def sessions(env: dict[str, str]) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Committing sessions on the database the commands use."""
    engine = create_engine(Settings(database_url=env["DATABASE_URL"]))
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def redis(env: dict[str, str]) -> AsyncIterator[Redis]:
    client = Redis.from_url(env["REDIS_URL"])
    yield client
    queued = await client.zrange(env["QUEUE_NAME"], 0, -1)
    await client.delete(env["QUEUE_NAME"], *(b"arq:job:" + job_id for job_id in queued))
    await client.aclose()


def ok(env: dict[str, str], *args: str) -> str:
    result = run_cli(env, *args)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


def refused(env: dict[str, str], *args: str) -> list[str]:
    """A usage error: exit 2, nothing on stdout, every stderr line an `error: …`."""
    result = run_cli(env, *args)
    assert result.returncode == 2, (args, result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert result.stdout == "" and lines, result.stderr
    assert all(line.startswith("error: ") for line in lines), result.stderr
    return lines


def jsonl(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in ok(env, *args, "--format", "jsonl").splitlines()]


def test_add_list_show_pause_resume_remove(env: dict[str, str]) -> None:
    added = ok(
        env,
        *("watch", "add", "mense", "--cpv", "45", "--cpv", "5552,4521", "--nuts", "itc4"),
        *("--words", "Mensa scolastica", "--events", "new,changed", "--fields", "deadline_at"),
        *("--amount-min", "1000", "--webhook", PUBLIC_HOOK),
    )
    secret = next(line for line in added.splitlines() if line.startswith("secret: "))[8:]
    assert secret.startswith("whsec_") and "never again" in added
    assert "exists already" in refused(env, "watch", "add", "mense", "--email", "a@example.org")[0]

    [watch] = jsonl(env, "watch", "list")
    assert watch["cpv"] == ["45", "4521", "5552"] and watch["nuts"] == ["ITC4"]
    assert watch["words"] == "mensa scolastica" and watch["amount_min"] == "1000.00"
    assert watch["owner"] == "operator" and watch["webhook_url"] == PUBLIC_HOOK
    assert watch["deliveries"] == {"pending": 0, "sent": 0, "failed": 0}
    narrow = {**env, "COLUMNS": "80"}
    table = ok(narrow, "watch", "list")
    assert "mense" in table and "active" in table
    assert max(len(line) for line in table.splitlines()) <= 80, table
    shown = ok(env, "watch", "show", "mense")
    assert "deadline_at" in shown and "mensa scolastica" in shown
    assert "deliveries: 0 pending, 0 sent, 0 failed" in shown
    assert secret not in table + shown + str(watch), "the secret is shown once only"

    assert "receiver down" in ok(env, "watch", "pause", "mense", "--reason", "receiver down")
    assert jsonl(env, "watch", "list")[0]["paused_reason"] == "receiver down"
    assert "paused: receiver down" in ok(env, "watch", "list")
    assert "0 deliveries due again" in ok(env, "watch", "resume", "mense")
    assert jsonl(env, "watch", "list")[0]["paused_at"] is None

    asked = refused(env, "watch", "remove", "mense")
    assert "--yes" in asked[0], "no terminal to ask on: the hint instead"
    assert len(jsonl(env, "watch", "list")) == 1
    assert "removed watch mense" in ok(env, "watch", "remove", "mense", "--yes")
    assert jsonl(env, "watch", "list") == []
    for command in (("show",), ("pause",), ("resume",), ("remove", "--yes")):
        assert "no watch 'mense'" in refused(env, "watch", *command, "mense")[0]


def test_a_wrong_watch_is_one_line_per_problem(env: dict[str, str]) -> None:
    lines = refused(
        env,
        *("watch", "add", "bad", "--cpv", "45x", "--nuts", "I", "--events", "new,nwe"),
        *("--status", "open", "--amount-min", "0.001", "--email", "a@example.org"),
    )
    assert len(lines) == 5, lines
    for option in ("--cpv", "--nuts", "--events 'nwe'", "--status", "--amount-min"):
        assert any(line.startswith(f"error: {option}") for line in lines), (option, lines)
    assert refused(env, "watch", "add", "bad", "--cpv", "45") == [
        "error: give one target: --webhook URL or --email ADDRESS"
    ]
    both = refused(env, "watch", "add", "bad", "--webhook", PUBLIC_HOOK, "--email", "a@b.org")
    assert "one target" in both[0]
    assert (
        "digests are for email"
        in refused(env, "watch", "add", "bad", "--webhook", PUBLIC_HOOK, "--digest", "daily")[0]
    )
    assert jsonl(env, "watch", "list") == [], "nothing was stored"


def test_a_private_webhook_needs_the_setting(env: dict[str, str]) -> None:
    [loopback] = refused(env, "watch", "add", "local", "--webhook", LOCAL_HOOK)
    assert "loopback" in loopback and "ALLOW_PRIVATE_WEBHOOKS" in loopback
    sources_only = {**env, "ALLOW_PRIVATE_SOURCES": "true"}
    assert refused(sources_only, "watch", "add", "local", "--webhook", LOCAL_HOOK)
    [unknown] = refused(env, "watch", "add", "nx", "--webhook", "https://hooks.nowhere.invalid/")
    assert "cannot be resolved" in unknown
    allowed = {**env, "ALLOW_PRIVATE_WEBHOOKS": "true"}
    assert "secret: whsec_" in ok(allowed, "watch", "add", "local", "--webhook", LOCAL_HOOK)
    assert [w["webhook_url"] for w in jsonl(env, "watch", "list")] == [LOCAL_HOOK]


async def _seed_deliveries(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Three tenders, matched to the watches (made before them); the delivery of CIG
    0000001A0B to `lavori` fails for good. Returns how many deliveries were made."""
    await store(sessions, [record(n) for n in (1, 2, 3)])
    async with sessions() as session, session.begin():
        made = (await match_pending(session)).deliveries
    async with sessions() as session, session.begin():
        watch_id, delivery_id = (
            await session.execute(
                select(Watch.id, Delivery.id)
                .join(Delivery, Delivery.watch_id == Watch.id)
                .join(TenderEvent, TenderEvent.id == Delivery.event_id)
                .join(Tender, Tender.id == TenderEvent.tender_id)
                .where(Watch.name == "lavori", Tender.cig == "0000001A0B")
            )
        ).one()
        await record_failed(
            session,
            watch_id,
            [delivery_id],
            datetime.now(UTC),
            response_code=503,
            error="HTTP 503 from the receiver",
            retry_at=None,
            pause_after=100,
        )
    return made


async def test_deliveries_listed_failed_and_replayed(
    env: dict[str, str], sessions: async_sessionmaker[AsyncSession], redis: Redis
) -> None:
    allowed = {**env, "ALLOW_PRIVATE_WEBHOOKS": "true"}
    ok(allowed, "watch", "add", "lavori", "--cpv", "4523", "--webhook", LOCAL_HOOK)
    ok(allowed, "watch", "add", "tutto", "--email", "alerts@example.org")
    assert await _seed_deliveries(sessions) == 6, "three tenders, two watches"

    every = jsonl(env, "deliveries")
    assert len(every) == 6
    assert set(every[0]) == {
        *("id", "watch", "watch_id", "event_id", "kind", "tender_id", "cig", "identity_key"),
        *("title", "status", "attempts", "response_code", "error", "created_at"),
        *("last_attempt_at", "sent_at", "next_attempt_at", "replay"),
    }
    assert all(datetime.fromisoformat(row["created_at"]).tzinfo is not None for row in every)
    [failed] = jsonl(env, "deliveries", "--failed")
    assert (failed["watch"], failed["cig"]) == ("lavori", "0000001A0B")
    assert (failed["status"], failed["response_code"]) == ("failed", 503)
    assert failed["error"] == "HTTP 503 from the receiver"
    table = ok({**env, "COLUMNS": "80"}, "deliveries", "--failed")
    assert "HTTP 503" in table and "failed" in table and failed["cig"] in table, table
    assert max(len(line) for line in table.splitlines()) <= 80, table
    lavori = jsonl(env, "deliveries", "--watch", "lavori", "--limit", "2")
    assert len(lavori) == 2 and {row["watch"] for row in lavori} == {"lavori"}
    assert "no watch 'nothing'" in refused(env, "deliveries", "--watch", "nothing")[0]

    watch = "lavori"
    ok(env, "watch", "pause", watch)
    resumed = ok(env, "watch", "resume", watch)
    assert "3 deliveries due again" in resumed, "the failed one, and the two that waited"
    replayed = ok(env, "watch", "replay", watch, "--since", "1h")
    assert f"3 deliveries of watch {watch} queued again" in replayed
    mine = jsonl(env, "deliveries", "--watch", watch)
    assert sorted(r["event_id"] for r in mine if r["replay"]) == sorted(
        r["event_id"] for r in mine if not r["replay"]
    ), "the same event ids, marked as replays"
    assert await redis.exists(f"arq:job:{dispatch_job_id(env['QUEUE_NAME'])}")
    assert "0 deliveries" in ok(env, "watch", "replay", watch, "--since", "2999-01-01")
    assert (
        "--since 'yesterday'" in refused(env, "watch", "replay", watch, "--since", "yesterday")[0]
    )
    assert refused(env, "watch", "replay", "nothing", "--since", "7d")


async def _events_of(sessions: async_sessionmaker[AsyncSession], run_id: str) -> int:
    async with sessions() as session:
        run = await session.get(IngestRun, uuid.UUID(run_id))
        assert run is not None and run.status == "complete", run
        count = await session.scalar(
            select(func.count()).select_from(TenderEvent).where(TenderEvent.run_id == run.id)
        )
        return (count or 0) if run.inserted else -1


def _ingested(env: dict[str, str], *args: str) -> str:
    """The run id of an ingest, after a burst worker has run it."""
    queued = ok(env, "ingest", *args)
    run_id = queued.split("(run ")[1].split(")")[0]
    ok(env, "worker", "--burst")
    return run_id


async def test_a_quiet_ingest_writes_no_event(
    env: dict[str, str], sessions: async_sessionmaker[AsyncSession], redis: Redis
) -> None:
    assert "so watches are not flooded" in ok(env, "ingest", "--help")
    # A watch that wants every tender: the dispatcher keeps the events it matched (those no
    # watch wants are dropped as they are matched).
    ok(env, "watch", "add", "everything", "--email", "team@example.org")
    quiet = _ingested(env, str(FIXTURES / "ocds" / "anac_two_procedures.json"), "--quiet")
    loud = _ingested(env, str(FIXTURES / "ocds" / "releases.jsonl"))
    assert await _events_of(sessions, quiet) == 0
    assert await _events_of(sessions, loud) > 0
    runs = {run["id"]: run["quiet"] for run in jsonl(env, "runs")}
    assert runs == {quiet: True, loud: False}
