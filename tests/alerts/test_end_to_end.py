"""Alerts through real worker processes: `tenders ingest` then `tenders worker --burst`
delivers what the ingest produced; a re-ingest sends nothing; events committed while the
dispatcher works are delivered by the same burst; and every event is delivered after a
worker is SIGKILLed after the commit and before the delivery, or after the receiver got
the POST and before the outcome was recorded (again, with the same event ids); an ingest
whose batches roll back leaves no event for what was not committed."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from src.domain.alerts.entities import Delivery, TenderEvent
from src.domain.tender.entities import Tender
from tests.alerts.conftest import AlertWorld
from tests.support.db import latest_run
from tests.support.polling import until
from tests.support.processes import Workers, run_cli, worker_env
from tests.support.receivers import Answer, Receiver, receiving
from tests.support.servers import Servers, free_port
from tests.support.sources import anac_source

pytestmark = pytest.mark.slow

EVERY_5_SECONDS = orjson.dumps(list(range(0, 60, 5))).decode()


def _env(world: AlertWorld, servers: Servers, **extra: str) -> dict[str, str]:
    assert world.settings.database_url is not None
    return worker_env(
        world.settings.database_url.get_secret_value(),
        servers.redis_url,
        ALLOW_PRIVATE_WEBHOOKS="true",
        WEBHOOK_BACKOFF_SECONDS="0.5",
        WEBHOOK_BACKOFF_MAX_SECONDS="2",
        WEBHOOK_MAX_ATTEMPTS="1000",
        ALERTS_LEASE_SECONDS="10",
        **extra,
    )


def _ingest(env: dict[str, str], source: Path) -> None:
    done = run_cli(env, "ingest", str(source))
    assert done.returncode == 0, done.stderr


async def _count(world: AlertWorld, table: type, *where: object) -> int:
    async with world.sessions() as session:
        query = select(func.count()).select_from(table).where(*where)  # type: ignore[arg-type]
        return int(await session.scalar(query) or 0)


async def _all_sent(world: AlertWorld, timeout: float = 90) -> None:
    async def done() -> bool:
        total = await _count(world, Delivery)
        return total > 0 and await _count(world, Delivery, Delivery.status == "sent") == total

    await until(done, timeout, "every delivery sent")


def _assert_each_event_received(receiver: Receiver, event_ids: list[str]) -> Counter[str]:
    received = Counter(receiver.event_ids())
    assert set(received) == set(event_ids), "each event received, none missing, none made up"
    return received


async def test_a_burst_worker_delivers_what_its_ingest_produced_once(
    world: AlertWorld,
    servers: Servers,
    receiver: Receiver,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    await world.watch("all", webhook_url=receiver.url())
    env = _env(world, servers, INGEST_BATCH_SIZE="7")
    source = tmp_path / "anac.jsonl"
    tenders = anac_source(source, 15)
    _ingest(env, source)
    workers(env).burst()

    events = await world.event_ids()
    assert len(events) == tenders
    received = _assert_each_event_received(receiver, events)
    assert set(received.values()) == {1}, "nothing sent twice"
    assert await _count(world, Delivery, Delivery.status == "sent") == tenders

    _ingest(env, source)
    workers(env).burst()
    assert len(await world.event_ids()) == tenders, "an unchanged re-ingest makes no event"
    assert len(receiver.event_ids()) == tenders, "and sends nothing"


async def test_events_committed_while_the_dispatcher_works_go_out_in_the_same_burst(
    world: AlertWorld,
    servers: Servers,
    receiver: Receiver,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    """The first POST is held while a second ingest commits its events (its wake-up is
    refused by arq: the dispatcher runs); once the POST is answered, the same burst sends
    the second ingest's events too, before it exits."""
    held = threading.Event()
    receiver.answers = [Answer(200, hold=held)]
    await world.watch("all", webhook_url=receiver.url())
    env = _env(world, servers)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    anac_source(first, 3)
    anac_source(second, 4, first=100)
    _ingest(env, first)
    burst = workers(env).start("--burst")
    await until(lambda: _received(receiver), 60, "the first POST")
    _ingest(env, second)

    async def second_run_complete() -> bool:
        run = await latest_run(world.sessions)
        return run is not None and run.source.endswith("second.jsonl") and run.status == "complete"

    await until(second_run_complete, 60, "the second ingest")
    held.set()
    assert burst.wait(timeout=120) == 0
    events = await world.event_ids()
    assert len(events) == 14
    _assert_each_event_received(receiver, events)
    assert await _count(world, Delivery, Delivery.status == "sent") == 14


async def _received(receiver: Receiver) -> bool:
    return bool(receiver.received)


async def test_sigkill_after_the_commit_and_before_the_delivery(
    world: AlertWorld,
    servers: Servers,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    """The receiver is not up yet: the worker commits the events, cannot deliver them, and
    is killed. Restarted with the receiver up, it delivers every one."""
    port = free_port()
    await world.watch("all", webhook_url=f"http://127.0.0.1:{port}/hook")
    env = _env(world, servers, JOB_KEEPALIVE_SECONDS="5", CRON_SECONDS=EVERY_5_SECONDS)
    source = tmp_path / "anac.jsonl"
    tenders = anac_source(source, 10)
    group = workers(env)
    worker = group.start()
    _ingest(env, source)

    async def committed() -> bool:
        run = await latest_run(world.sessions)
        return run is not None and run.status == "complete"

    await until(committed, 60, "the ingest to commit")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    assert await _count(world, Delivery, Delivery.status == "sent") == 0

    with receiving(port) as receiver:
        group.start()
        await _all_sent(world)
    events = await world.event_ids()
    assert len(events) == tenders
    _assert_each_event_received(receiver, events)


async def test_sigkill_after_the_post_and_before_its_record_sends_it_again(
    world: AlertWorld,
    servers: Servers,
    receiver: Receiver,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    """The receiver has the POST but answers only once the worker is dead: the deliveries
    stay leased, and after the lease they are sent again, with the same event ids."""
    held = threading.Event()
    receiver.default = Answer(200, hold=held)
    await world.watch("all", webhook_url=receiver.url())
    env = _env(world, servers, JOB_KEEPALIVE_SECONDS="5", CRON_SECONDS=EVERY_5_SECONDS)
    source = tmp_path / "anac.jsonl"
    tenders = anac_source(source, 4)
    group = workers(env)
    worker = group.start()
    _ingest(env, source)
    await until(lambda: _received(receiver), 60, "the first POST")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    first_post = receiver.received[0].event_ids()
    receiver.default = Answer(200)
    held.set()  # the answer goes to a dead socket
    assert await _count(world, Delivery, Delivery.status == "sent") == 0

    group.start()
    await _all_sent(world)
    events = await world.event_ids()
    assert len(events) == tenders
    received = _assert_each_event_received(receiver, events)
    assert all(received[event_id] >= 2 for event_id in first_post), "sent again, same ids"
    async with world.sessions() as session:
        attempts = (await session.scalars(select(Delivery.attempts))).all()
    assert min(attempts) >= 1 and max(attempts) >= 2


def _good(index: int) -> dict[str, object]:
    lot = {"id": f"{3000000 + index:07d}A0B", "value": {"amount": 1000 + index}}
    tender = {"description": f"Servizio {index}", "lots": [lot]}
    return {"ocid": f"ocds-hu01ve-{index}", "id": f"r{index}", "date": "2025-01-01T00:00:00Z",
            "tag": ["compiled"], "tender": tender}  # fmt: skip


async def test_a_batch_that_rolls_back_leaves_no_event_for_what_it_did_not_commit(
    world: AlertWorld,
    servers: Servers,
    receiver: Receiver,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    """A record the database refuses fails its batch, which is written again in halves
    (each rolled-back attempt with its events): one event per tender kept, none for the
    refused record, each delivered."""
    await world.watch("all", webhook_url=receiver.url())
    refused = {"ocid": "ocds-zzzzzz-1\u0000", "id": "r1", "date": "2025-01-01T00:00:00Z",
               "tag": ["compiled"], "tender": {"title": "Gara", "lots": [{"id": "1"}]}}  # fmt: skip
    lines = [_good(i) for i in range(10)] + [refused] + [_good(100 + i) for i in range(10)]
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    env = _env(world, servers, INGEST_BATCH_SIZE="50")
    _ingest(env, source)
    workers(env).burst()

    run = await latest_run(world.sessions)
    assert run is not None and (run.inserted, run.rejected) == (20, 1)
    assert await _count(world, Tender) == 20
    assert await _count(world, TenderEvent) == 20
    async with world.sessions() as session:
        per_tender = await session.execute(
            select(TenderEvent.tender_id, func.count()).group_by(TenderEvent.tender_id)
        )
        assert {count for _, count in per_tender} == {1}
    received = _assert_each_event_received(receiver, await world.event_ids())
    assert set(received.values()) == {1}


async def test_sigkill_mid_ingest_leaves_one_event_per_committed_tender(
    world: AlertWorld,
    servers: Servers,
    receiver: Receiver,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    """A worker killed inside a batch's transaction: that batch's events go with it; the
    job, run again, writes them once with their tenders; each is delivered."""
    await world.watch("all", webhook_url=receiver.url())
    env = _env(world, servers, JOB_KEEPALIVE_SECONDS="5", INGEST_BATCH_SIZE="50")
    source = tmp_path / "large.jsonl"
    tenders = anac_source(source, 1500)
    group = workers(env)
    worker = group.start()
    _ingest(env, source)

    async def some_batches() -> bool:
        run = await latest_run(world.sessions)
        return run is not None and run.records_done >= 300

    await until(some_batches, 60, "the first batches")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    group.start()

    async def complete() -> bool:
        run = await latest_run(world.sessions)
        return run is not None and run.status == "complete"

    await until(complete, 180, "the run to complete")
    await _all_sent(world, 180)
    assert await _count(world, Tender) == tenders
    events = await world.event_ids()
    assert len(events) == tenders, "one `new` event per tender: none lost, none doubled"
    _assert_each_event_received(receiver, events)
