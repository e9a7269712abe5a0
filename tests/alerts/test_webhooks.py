"""The dispatcher and a real webhook receiver on loopback: batches, signatures, retries
with backoff and Retry-After, failures that are final, a watch paused after failures in a
row, and the source policy for webhook URLs."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import update

from src.domain.alerts.entities import Delivery, Watch
from src.domain.alerts.services.deliveries import list_deliveries
from src.ingest.alerts.dispatch import deliver_watch
from src.ingest.alerts.payload import verify_signature
from src.ingest.alerts.send import Senders, Target
from tests.alerts.conftest import AlertWorld
from tests.support.api import BASE_TIME, record
from tests.support.receivers import Answer, Receiver

LATER = BASE_TIME + timedelta(days=100)


async def _one_step(world: AlertWorld, watch: Watch) -> None:
    """One claim, send and record for the watch, as a dispatcher pass makes it."""
    assert world.deps.http_webhooks is not None
    senders = Senders(world.deps.settings, world.deps.http_webhooks)
    await deliver_watch(world.deps, senders, Target.of(watch))


async def test_a_batch_of_events_is_one_signed_post(world: AlertWorld, receiver: Receiver) -> None:
    watch = await world.watch("all", webhook_url=receiver.url())
    await world.store([record(1), record(2)])
    moved = record(1, deadline_at=datetime(2026, 1, 1, tzinfo=UTC), source_updated_at=LATER)
    await world.store([moved])

    summary = await world.dispatch()

    assert (summary.sent, summary.batches, summary.failed) == (3, 1, 0)
    [post] = receiver.received
    assert post.path == "/hook"
    assert verify_signature(watch.secret, post.headers["tenders-signature"], post.body)
    assert post.headers["content-type"] == "application/json"
    assert post.headers["user-agent"] == world.settings.user_agent
    assert post.event_ids() == await world.event_ids()
    assert post.headers["tenders-event-ids"].split(",") == post.event_ids()
    body = post.json()
    assert body["watch"] == {"id": str(watch.id), "name": "all"}
    new, _, changed = body["events"]
    assert (new["kind"], changed["kind"]) == ("new", "changed")
    assert new["tender"]["cig"] == "0000001A0B" and new["tender"]["amount"] == "125000.50"
    assert changed["tender"]["id"] == new["tender"]["id"]
    assert set(changed["changes"]) == {"deadline_at"}
    assert changed["changes"]["deadline_at"]["new"].startswith("2026-01-01")
    delivered = await world.deliveries()
    assert {(d.status, d.attempts, d.response_code) for d in delivered} == {("sent", 1, 200)}
    assert (await world.dispatch()).batches == 0  # nothing twice
    assert len(receiver.received) == 1


async def test_batches_hold_at_most_the_batch_size(world: AlertWorld, receiver: Receiver) -> None:
    world.configure(alerts_batch_size=2)
    await world.watch("all", webhook_url=receiver.url())
    await world.store([record(n) for n in range(1, 6)])
    summary = await world.dispatch()
    assert (summary.sent, summary.batches) == (5, 3)
    assert [len(post.event_ids()) for post in receiver.received] == [2, 2, 1]
    assert receiver.event_ids() == await world.event_ids()


async def test_a_tender_matching_two_watches_of_one_target_is_sent_to_each(
    world: AlertWorld, receiver: Receiver
) -> None:
    first = await world.watch("roads", webhook_url=receiver.url(), cpv=["45"])
    second = await world.watch("all", webhook_url=receiver.url())
    await world.store([record(1)])
    await world.dispatch()
    by_watch = {post.json()["watch"]["id"]: post for post in receiver.received}
    assert set(by_watch) == {str(first.id), str(second.id)}
    for watch in (first, second):
        post = by_watch[str(watch.id)]
        assert verify_signature(watch.secret, post.headers["tenders-signature"], post.body)
        assert post.event_ids() == await world.event_ids()


async def test_a_5xx_is_retried_and_the_event_recorded_sent_once(
    world: AlertWorld, receiver: Receiver
) -> None:
    receiver.answers = [Answer(500, body=b"database is down"), Answer(503)]
    await world.watch("all", webhook_url=receiver.url())
    await world.store([record(1)])

    summary = await world.dispatch()

    assert (summary.failed, summary.sent) == (2, 1)
    ids = [post.event_ids() for post in receiver.received]
    assert ids == [ids[0]] * 3, "the same event, with its id, each time"
    [delivery] = await world.deliveries()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("sent", 3, 200)
    assert delivery.error is None


async def test_a_retry_waits_the_backoff(world: AlertWorld, receiver: Receiver) -> None:
    world.configure(webhook_backoff_seconds=60, webhook_backoff_max_seconds=3600)
    receiver.default = Answer(500)
    watch = await world.watch("all", webhook_url=receiver.url())
    await world.store([record(1)])
    await world.dispatch()  # matches, sends once, then the retry is an hour off at most
    await world.dispatch()
    [delivery] = await world.deliveries()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_attempt_at is not None
    waited = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 60 <= waited <= 66, "30 s x 2^0, plus at most a tenth"
    assert delivery.error and delivery.error.startswith("HTTP 500")
    assert len(receiver.received) == 1
    await _force_due(world)
    await _one_step(world, watch)
    [delivery] = await world.deliveries()
    assert delivery.last_attempt_at is not None
    waited = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 120 <= waited <= 132, "the second wait is twice the first"


async def _force_due(world: AlertWorld) -> None:
    async with world.sessions() as session, session.begin():
        await session.execute(update(Delivery).values(next_attempt_at=datetime.now(UTC)))


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    # An HTTP date has whole seconds: made 5 s ahead, it is 4 to 5 s after its making, and
    # the attempt starts a moment after that.
    [("2", 2), ("3600", 5), ("http-date", 4.5)],
    ids=["seconds", "capped", "http-date"],
)
async def test_a_429_retry_after_is_honoured_and_capped(
    world: AlertWorld, receiver: Receiver, retry_after: str, expected: float
) -> None:
    if retry_after == "http-date":
        retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    world.configure(webhook_backoff_seconds=60, webhook_backoff_max_seconds=5)
    receiver.answers = [Answer(429, {"Retry-After": retry_after})]
    watch = await world.watch("all", webhook_url=receiver.url())
    await world.store([record(1)])
    await world.dispatch(budget=0)  # one pass: matched, sent once, refused
    [delivery] = await world.deliveries()
    assert (delivery.status, delivery.response_code) == ("pending", 429)
    assert delivery.last_attempt_at is not None
    waited = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert expected - 1.5 <= waited <= expected + 0.5
    await _force_due(world)
    await _one_step(world, watch)
    [delivery] = await world.deliveries()
    assert (delivery.status, len(receiver.received)) == ("sent", 2)


@pytest.mark.parametrize("status", [400, 404, 410, 301])
async def test_another_4xx_or_a_redirect_fails_at_once(
    world: AlertWorld, receiver: Receiver, status: int
) -> None:
    receiver.default = Answer(status, {"Location": "https://elsewhere.example.org/"})
    await world.watch("all", webhook_url=receiver.url())
    await world.store([record(1)])
    summary = await world.dispatch()
    assert (summary.failed, summary.sent, len(receiver.received)) == (1, 0, 1)
    [delivery] = await world.deliveries()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("failed", 1, status)
    assert (await world.dispatch()).batches == 0


async def test_a_delivery_fails_for_good_after_the_last_attempt(
    world: AlertWorld, receiver: Receiver
) -> None:
    world.configure(webhook_max_attempts=3)
    receiver.default = Answer(502)
    await world.watch("all", webhook_url=receiver.url())
    await world.store([record(1)])
    await world.dispatch()
    [delivery] = await world.deliveries()
    assert (delivery.status, delivery.attempts, len(receiver.received)) == ("failed", 3, 3)


async def test_a_watch_pauses_after_failures_in_a_row_and_says_why(
    world: AlertWorld, receiver: Receiver
) -> None:
    world.configure(webhook_max_attempts=10, watch_pause_after_failures=3)
    receiver.default = Answer(500, body=b"upstream broke")
    watch = await world.watch("all", webhook_url=receiver.url())
    await world.store([record(1)])
    await world.dispatch()
    assert len(receiver.received) == 3, "nothing is sent to a paused watch"
    paused = await world.reload(watch)
    assert paused.paused_at is not None and paused.consecutive_failures == 3
    assert paused.paused_reason is not None
    assert paused.paused_reason.startswith("paused after 3 failed deliveries in a row")
    assert "HTTP 500 Internal Server Error: upstream broke" in paused.paused_reason
    async with world.sessions() as session:
        [failed] = await list_deliveries(session, failed=True)
    assert (failed["watch"], failed["status"], failed["response_code"]) == ("all", "pending", 500)
    assert failed["error"].startswith("HTTP 500")


async def test_a_private_webhook_is_refused_unless_allowed(
    world: AlertWorld, receiver: Receiver
) -> None:
    world.configure(allow_private_webhooks=False)
    await world.watch("all", webhook_url=receiver.url())
    await world.store([record(1)])
    await world.dispatch()
    assert receiver.received == []
    [delivery] = await world.deliveries()
    assert (delivery.status, delivery.response_code) == ("failed", None)
    assert delivery.error is not None
    assert "127.0.0.1" in delivery.error and "loopback" in delivery.error
    assert "ALLOW_PRIVATE_WEBHOOKS" in delivery.error


async def test_a_receiver_that_does_not_answer_in_time_is_tried_again(
    world: AlertWorld, receiver: Receiver
) -> None:
    world.configure(
        webhook_timeout_seconds=0.5, webhook_backoff_seconds=60, webhook_backoff_max_seconds=3600
    )
    receiver.answers = [Answer(200, hold=threading.Event())]  # held until the test ends
    watch = await world.watch("all", webhook_url=receiver.url())
    await world.store([record(1)])
    await world.dispatch()
    [delivery] = await world.deliveries()
    assert (delivery.status, delivery.response_code) == ("pending", None)
    assert delivery.error == "no answer within 0.5 s (WEBHOOK_TIMEOUT_SECONDS)"
    await _force_due(world)
    await _one_step(world, watch)
    [delivery] = await world.deliveries()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert receiver.received[0].event_ids() == receiver.received[1].event_ids()


async def test_an_unchanged_write_sends_nothing(world: AlertWorld, receiver: Receiver) -> None:
    await world.watch("all", webhook_url=receiver.url())
    await world.store([record(1), record(2)])
    await world.dispatch()
    counts = await world.store([record(1), record(2)])
    assert (counts.unchanged, counts.events) == (2, 0)
    summary = await world.dispatch()
    assert (summary.matched, summary.batches, len(receiver.received)) == (0, 0, 1)


async def test_in_a_failed_batch_only_the_deliveries_out_of_attempts_fail_for_good(
    world: AlertWorld, receiver: Receiver
) -> None:
    world.configure(
        webhook_max_attempts=2, webhook_backoff_seconds=60, webhook_backoff_max_seconds=3600
    )
    receiver.default = Answer(500)
    watch = await world.watch("all", webhook_url=receiver.url())
    await world.store([record(1)])
    await world.dispatch()  # the first attempt at the first event
    await _force_due(world)
    await world.store([record(2)])
    await world.dispatch()  # both in one POST: the first event's last attempt
    assert [len(post.event_ids()) for post in receiver.received] == [1, 2]
    first, second = await world.deliveries(watch)
    assert (first.status, first.attempts) == ("failed", 2)
    assert (second.status, second.attempts) == ("pending", 1)
