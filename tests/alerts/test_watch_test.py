"""Trying a watch: `tenders watch test NAME` and `POST /watches/{id}/test` send a sample
event to its target now, marked as a test and stored nowhere, and say how it went."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from configs.config import Settings
from src.domain.alerts.entities import Delivery, TenderEvent
from src.domain.alerts.schemas import WatchSpec
from src.domain.alerts.services.watches import WatchService
from src.ingest.alerts.payload import verify_signature
from tests.alerts.conftest import AlertWorld
from tests.support.api import TEST_HOST, TOKENS, build_app, running
from tests.support.paths import ROOT
from tests.support.processes import run_cli
from tests.support.receivers import Answer, Inbox, Receiver
from tests.support.servers import Servers

pytestmark = pytest.mark.slow  # a CLI process per command


async def _nothing_stored(world: AlertWorld) -> None:
    async with world.sessions() as session:
        for table in (TenderEvent, Delivery):
            assert await session.scalar(select(func.count()).select_from(table)) == 0


async def test_watch_test_sends_a_sample_event_and_prints_the_answer(
    world: AlertWorld, receiver: Receiver, env: dict[str, str]
) -> None:
    watch = await world.watch("mense", webhook_url=receiver.url("/in?token=secret-part"))
    env = {**env, "ALLOW_PRIVATE_WEBHOOKS": "true"}
    done = run_cli(env, "watch", "test", "mense")
    assert done.returncode == 0, done.stderr
    port = receiver.base_url.rsplit(":", 1)[1]
    assert done.stdout.strip() == f"test event sent to the webhook at 127.0.0.1:{port} (200)"
    assert "secret-part" not in done.stdout
    [post] = receiver.received
    assert verify_signature(watch.secret, post.headers["tenders-signature"], post.body)
    body = post.json()
    assert body["test"] is True and body["watch"]["name"] == "mense"
    [event] = body["events"]
    assert (event["kind"], event["test"]) == ("new", True)
    assert event["tender"]["title"] == "Sample tender: a test of this watch"
    await _nothing_stored(world)

    receiver.default = Answer(503, body=b"maintenance")
    failed = run_cli(env, "watch", "test", str(watch.id))
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: the test event was not taken by the webhook at")
    assert "HTTP 503 Service Unavailable: maintenance" in failed.stderr

    refused = run_cli({**env, "ALLOW_PRIVATE_WEBHOOKS": "false"}, "watch", "test", "mense")
    assert refused.returncode == 1 and "ALLOW_PRIVATE_WEBHOOKS" in refused.stderr

    missing = run_cli(env, "watch", "test", "nope")
    assert (missing.returncode, missing.stderr) == (2, "error: no watch 'nope'\n")


async def test_watch_test_sends_an_email(
    world: AlertWorld, inbox: Inbox, env: dict[str, str]
) -> None:
    await world.watch("posta", email="ufficio@example.org", events=["changed"])
    done = run_cli({**env, "SMTP_URL": inbox.url}, "watch", "test", "posta")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "test event sent to ufficio@example.org (250)"
    [message] = inbox.messages
    assert message["Subject"] == "[tenders] test: posta: 1 changed"
    unset = run_cli(env, "watch", "test", "posta")
    assert unset.returncode == 1 and "SMTP_URL is not set" in unset.stderr


async def test_the_api_tests_a_watch_of_the_token_only(
    world: AlertWorld, receiver: Receiver, servers: Servers
) -> None:
    settings = Settings(
        database_url=world.settings.database_url,
        redis_url=servers.redis_url,
        queue_name=world.settings.queue_name,
        data_dir=ROOT / ".data",
        api_tokens=list(TOKENS.values()),
        api_allowed_hosts=[TEST_HOST],
        allow_private_webhooks=True,
    )
    async with world.sessions() as session, session.begin():
        own = await WatchService.create(
            session, WatchSpec(name="mine", webhook_url=receiver.url()), owner="test"
        )
        other = await WatchService.create(
            session, WatchSpec(name="theirs", webhook_url=receiver.url()), owner="reader"
        )
    async with running(build_app(settings)) as client:
        answer = await client.post(f"/watches/{own.id}/test")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "watch_id": str(own.id),
            "target": "webhook",
            "sent": True,
            "response_code": 200,
            "error": None,
        }
        assert (await client.post(f"/watches/{other.id}/test")).status_code == 404
        receiver.default = Answer(500)
        failed = (await client.post(f"/watches/{own.id}/test")).json()
        assert (failed["sent"], failed["response_code"]) == (False, 500)
    async with running(build_app(settings), token="tnd_reader") as reader:
        denied = await reader.post(f"/watches/{other.id}/test")
        assert denied.status_code == 403, "testing sends: the write scope"
    assert [post.json()["watch"]["id"] for post in receiver.received] == [str(own.id)] * 2
    await _nothing_stored(world)
