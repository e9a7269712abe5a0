"""Waking the dispatcher: an ingest batch that wrote events queues it once it has committed
(and one that wrote none does not); a Redis that cannot take the wake-up costs the ingest
nothing; a wake-up while the dispatcher runs is not lost, whether it comes during a pass or
after the last one; the cron makes `deadline_near` events and wakes it when anything waits."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from sqlalchemy import text

from src.domain.alerts.entities import Delivery, TenderEvent
from src.domain.alerts.schemas import WatchSpec
from src.domain.alerts.services.matching import match_pending
from src.domain.alerts.services.watches import OPERATOR, WatchService
from src.domain.tender.entities import Tender
from src.infra.queue import DISPATCH_FUNCTION, dispatch_job_id, job_in_redis
from src.ingest.alerts.clock import alerts_tick
from src.ingest.alerts.dispatch import dispatch_alerts
from src.ingest.alerts.wake import dirty_key, is_dirty, request_dispatch
from tests.alerts.conftest import AlertWorld
from tests.support.api import record
from tests.support.jobs import ingest_source, job_ctx
from tests.support.polling import until
from tests.support.receivers import Receiver
from tests.support.servers import free_port
from tests.support.sources import anac_source
from workers.context import after_job_end
from workers.cron import scheduled


async def _queued(world: AlertWorld) -> bool:
    return await job_in_redis(world.queue, dispatch_job_id(world.settings.queue_name))


async def _forget_wakeups(world: AlertWorld) -> None:
    name = world.settings.queue_name
    await world.queue.delete(name, "arq:job:" + dispatch_job_id(name), dirty_key(name))


async def test_a_batch_that_wrote_events_wakes_the_dispatcher_once_committed(
    world: AlertWorld, receiver: Receiver, tmp_path: Path
) -> None:
    await world.watch("all", webhook_url=receiver.url())
    source = tmp_path / "anac.jsonl"
    tenders = anac_source(source, 5)
    ctx = job_ctx(world.deps)
    summary = await ingest_source(ctx, str(source))
    assert summary["inserted"] == tenders
    assert await _queued(world), "the dispatcher is queued"
    assert await is_dirty(world.queue, world.settings.queue_name)
    [job_id] = await world.queue.zrange(world.settings.queue_name, 0, -1)
    assert job_id.decode() == dispatch_job_id(world.settings.queue_name)

    await dispatch_alerts(world.deps)
    assert sorted(receiver.event_ids()) == sorted(await world.event_ids())
    assert len(receiver.event_ids()) == tenders

    await _forget_wakeups(world)
    again = await ingest_source(ctx, str(source))
    assert again["unchanged"] == tenders
    assert not await _queued(world), "an ingest that changed nothing wakes nobody"


async def test_a_redis_that_cannot_take_the_wake_up_costs_the_ingest_nothing(
    world: AlertWorld, receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await world.watch("all", webhook_url=receiver.url())
    source = tmp_path / "anac.jsonl"
    anac_source(source, 2)
    dead = ArqRedis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    try:
        ctx = job_ctx(dataclasses.replace(world.deps, queue=dead))
        with caplog.at_level(logging.WARNING, logger="tenders.alerts"):
            summary = await ingest_source(ctx, str(source))
    finally:
        await dead.aclose()
    assert (summary["status"], summary["inserted"]) == ("complete", 4)
    assert "could not wake the alert dispatcher" in caplog.text
    assert len(await world.event_ids()) == 4, "the events are committed all the same"
    tick = await alerts_tick(world.deps)  # the cron, a minute later at most
    assert (tick.waiting, tick.queued) == (True, True)
    await dispatch_alerts(world.deps)
    assert len(receiver.event_ids()) == 4


async def test_a_wake_up_while_the_dispatcher_is_queued_only_marks(world: AlertWorld) -> None:
    name = world.settings.queue_name
    assert await request_dispatch(world.queue, name) is True
    await world.queue.delete(dirty_key(name))
    assert await request_dispatch(world.queue, name) is False, "one dispatcher job at a time"
    assert await is_dirty(world.queue, name)
    assert await world.queue.zcard(name) == 1


async def test_a_dispatcher_that_ends_after_a_wake_up_it_missed_is_queued_again(
    world: AlertWorld,
) -> None:
    """arq refused the wake-up (the job ran); once arq lets go of the job id, the hook
    queues the dispatcher again — and only when a wake-up is marked."""
    name = world.settings.queue_name
    ctx = {**job_ctx(world.deps), "job_id": dispatch_job_id(name)}
    await after_job_end(ctx)
    assert not await _queued(world)
    await world.queue.set(dirty_key(name), b"1")
    await after_job_end({**ctx, "job_id": "ingest:other"})
    assert not await _queued(world), "only the dispatcher's end is watched"
    await after_job_end(ctx)
    assert await _queued(world)
    info = await world.queue.get("arq:job:" + dispatch_job_id(name))
    assert info is not None and DISPATCH_FUNCTION.encode() in info


async def test_a_wake_up_during_a_pass_that_found_nothing_makes_another_pass(
    world: AlertWorld, receiver: Receiver
) -> None:
    """The pass is held up (an email watch whose deliveries the test has locked) while a
    batch commits events and wakes the dispatcher: it finds no work in that pass, sees the
    mark, and passes again instead of leaving the events for the cron."""
    world.configure(smtp_url=None)
    await world.watch("mail", email="someone@example.org", cpv=["45"])
    await world.store([record(1)])
    webhook = await world.watch("hook", webhook_url=receiver.url(), cpv=["33"])
    async with world.sessions() as session, session.begin():
        await match_pending(session)
    async with world.engine.connect() as locker:
        transaction = await locker.begin()
        await locker.execute(text("SELECT id FROM deliveries FOR UPDATE"))
        dispatcher = asyncio.create_task(dispatch_alerts(world.deps))
        await until(lambda: _blocked(world), 30, "the dispatcher to wait for the lock")
        await world.store([record(2, cpv="33100000-1")])
        await request_dispatch(world.queue, world.settings.queue_name)
        await transaction.rollback()
    summary = await asyncio.wait_for(dispatcher, 60)
    assert summary.held == 1 and summary.passes >= 2
    assert [post.json()["watch"]["id"] for post in receiver.received] == [str(webhook.id)]


async def _blocked(world: AlertWorld) -> bool:
    """Whether a session of this database waits for a lock."""
    async with world.engine.connect() as connection:
        waiting = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
    return bool(waiting)


async def test_the_cron_makes_deadline_events_and_wakes_the_dispatcher(
    world: AlertWorld, receiver: Receiver
) -> None:
    await world.watch(
        "soon", webhook_url=receiver.url(), events=["deadline_near"], deadline_days=10
    )
    now = datetime.now(UTC)
    await world.store(
        [
            record(1, deadline_at=now + timedelta(days=3)),
            record(2, deadline_at=now + timedelta(days=30)),
            record(3, deadline_at=now + timedelta(days=2), status="cancelled"),
        ]
    )
    await dispatch_alerts(world.deps)  # the `new` events match nothing here
    await _forget_wakeups(world)
    result = await scheduled(job_ctx(world.deps))
    assert (result["deadline_events"], result["dispatch"]) == (1, True)
    await dispatch_alerts(world.deps)
    [post] = receiver.received
    [event] = post.json()["events"]
    assert (event["kind"], event["tender"]["cig"]) == ("deadline_near", "0000001A0B")
    await _forget_wakeups(world)
    tick = await alerts_tick(world.deps)
    assert (tick.deadline_events, tick.waiting, tick.queued) == (0, False, False)


async def test_the_cron_prunes_what_ended_before_the_retention_once_an_hour(
    world: AlertWorld,
) -> None:
    old = datetime.now(UTC) - timedelta(days=world.settings.alerts_retention_days + 1)
    async with world.sessions() as session, session.begin():
        watch = await WatchService.create(
            session, WatchSpec(name="old", email="a@example.org"), owner=OPERATOR
        )
        tender = Tender(title="t", source="ted", procedure_id="p", identity_key="ted:p:")
        session.add(tender)
        await session.flush()
        event = TenderEvent(tender_id=tender.id, kind="new", matched_at=old)
        session.add(event)
        await session.flush()
        session.add(Delivery(watch_id=watch.id, event_id=event.id, status="sent", sent_at=old))
    first = await alerts_tick(world.deps)
    second = await alerts_tick(world.deps)
    assert first.pruned is not None and first.pruned.deliveries == 1
    assert first.pruned.events == 1
    assert second.pruned is None  # within the hour
