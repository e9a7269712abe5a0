"""The dispatcher: outbox events to deliveries, and due deliveries to their targets.

A pass (a) matches the pending events to the watches, a transaction at a time, until none
is left; (b) for each watch with deliveries due (an email digest once its period has
passed), claims a batch of them in a transaction of its own (counted as an attempt and
leased), sends it outside any transaction, and records the outcome in a third. Watches are
served a few at a time, so one slow receiver does not hold up the rest.

A dispatcher killed after a send but before its record leaves the deliveries leased: when
the lease ends they are due again and sent again, with the same event ids (at least once).
Passes go on while one did some work or a wake-up came in (`wake`), and a retry due within
seconds is waited for; past its time budget the dispatcher says there is more, and the job
runs again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from configs.config import Settings
from src.domain.alerts.services.deliveries import (
    EventPayload,
    claim,
    due_watches,
    hold,
    next_due_at,
    record_failed,
    record_sent,
)
from src.domain.alerts.services.matching import match_pending
from src.ingest.alerts.mail import NO_SMTP
from src.ingest.alerts.outcome import SendOutcome, retry_at
from src.ingest.alerts.send import Senders, Target, open_senders, send_events, send_time_limit
from src.ingest.alerts.wake import is_dirty, take_dirty
from src.ingest.deps import IngestDeps

log = logging.getLogger("tenders.alerts")

# How long one dispatcher job works before it hands over to a fresh run of itself.
BUDGET_SECONDS = 60.0
# Watches served at once (each holds a connection while it records, none while it sends).
SEND_CONCURRENCY = 8
# A delivery due again within this long (a short backoff, a Retry-After) is waited for.
SHORT_WAIT_SECONDS = 5.0
# Email deliveries wait this long when SMTP_URL is not set, then are looked at again.
SMTP_MISSING_HOLD = timedelta(minutes=5)
MATCH_BATCH = 5000
# Watches served in one pass at most (`due_watches`' limit).
PASS_WATCHES = 100


def longest_run_seconds(settings: Settings) -> float:
    """How long a dispatcher job may take: its budget, then a last pass of PASS_WATCHES
    watches whose every send runs to its time limit."""
    rounds = -(-PASS_WATCHES // SEND_CONCURRENCY)
    return BUDGET_SECONDS + rounds * send_time_limit(settings)


@dataclass
class DispatchSummary:
    """What a dispatcher did: events matched, sends made (`batches`), deliveries sent and
    failed (an attempt that failed, whether it will be retried or not), email deliveries
    held for want of SMTP_URL; `more`: it stopped with work left."""

    passes: int = 0
    matched: int = 0
    batches: int = 0
    sent: int = 0
    failed: int = 0
    held: int = 0
    more: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def match_all(deps: IngestDeps) -> int:
    """Match pending events until none is left (one transaction per batch of events)."""
    total = 0
    while True:
        async with deps.sessions() as session, session.begin():
            matched = await match_pending(session, limit=MATCH_BATCH)
        total += matched.events
        if matched.events < MATCH_BATCH:
            return total


async def _record(
    deps: IngestDeps, target: Target, events: list[EventPayload], outcome: SendOutcome
) -> None:
    settings = deps.settings
    now = datetime.now(UTC)
    ids = [event.delivery_id for event in events]
    async with deps.sessions() as session, session.begin():
        if outcome.sent:
            await record_sent(session, target.id, ids, now, response_code=outcome.response_code)
            log.info("watch %s: %d event(s) %s", target.name, len(ids), outcome.describe())
            return
        # Those out of attempts fail for good; the others wait as their attempts say.
        last = settings.webhook_max_attempts
        give_up = [event.delivery_id for event in events if event.attempts >= last]
        retriable = [event.attempts for event in events if event.attempts < last]
        retry = retry_at(outcome, max(retriable), now, settings) if retriable else None
        attempts = max(event.attempts for event in events)
        paused = await record_failed(
            session,
            target.id,
            ids,
            now,
            response_code=outcome.response_code,
            error=outcome.error or "failed",
            retry_at=retry,
            pause_after=settings.watch_pause_after_failures,
            give_up=give_up,
        )
    again = f"again at {retry:%H:%M:%S} UTC" if retry else "failed for good"
    log.warning(
        "watch %s: %d event(s) not sent, %s (attempt %d): %s%s",
        target.name,
        len(ids),
        again,
        attempts,
        outcome.error,
        "; the watch is paused" if paused else "",
    )


async def deliver_watch(deps: IngestDeps, senders: Senders, target: Target) -> DispatchSummary:
    """Claim, send and record one batch of the watch's due deliveries."""
    done = DispatchSummary()
    now = datetime.now(UTC)
    settings = deps.settings
    events: list[EventPayload] = []
    async with deps.sessions() as session, session.begin():
        if target.email is not None and settings.smtp_url is None:
            done.held = await hold(
                session, target.id, now, until=now + SMTP_MISSING_HOLD, error=NO_SMTP
            )
        else:
            lease = timedelta(seconds=settings.alerts_lease_seconds)
            events = await claim(
                session, target.id, now, lease=lease, limit=settings.alerts_batch_size
            )
    if done.held:
        log.warning("watch %s: %d email(s) wait: %s", target.name, done.held, NO_SMTP)
        return done
    if not events:
        return done
    outcome = await send_events(senders, target, events)
    await _record(deps, target, events, outcome)
    done.batches = 1
    if outcome.sent:
        done.sent = len(events)
    else:
        done.failed = len(events)
    return done


async def _deliver_due(deps: IngestDeps, senders: Senders, summary: DispatchSummary) -> bool:
    """Serve every watch with deliveries due now; whether anything was sent or tried."""
    async with deps.sessions() as session:
        due = await due_watches(session, datetime.now(UTC), limit=PASS_WATCHES)
        targets = [Target.of(watch) for watch in due]
    if not targets:
        return False
    limit = asyncio.Semaphore(SEND_CONCURRENCY)

    async def one(target: Target) -> DispatchSummary:
        async with limit:
            return await deliver_watch(deps, senders, target)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(target)) for target in targets]
    for task in tasks:
        done = task.result()
        summary.batches += done.batches
        summary.sent += done.sent
        summary.failed += done.failed
        summary.held += done.held
    return any(task.result().batches for task in tasks)


async def _short_wait(deps: IngestDeps, left: float) -> float | None:
    """Seconds to wait for the next delivery that falls due soon; None: none does."""
    async with deps.sessions() as session:
        due_at = await next_due_at(session)
    if due_at is None:
        return None
    wait = (due_at - datetime.now(UTC)).total_seconds()
    if wait > min(SHORT_WAIT_SECONDS, left):
        return None
    return max(wait, 0.2)  # due now yet not served: another dispatcher holds it


@asynccontextmanager
async def _senders(deps: IngestDeps) -> AsyncIterator[Senders]:
    if deps.http_webhooks is not None:
        yield Senders(deps.settings, deps.http_webhooks)
        return
    async with open_senders(deps.settings, resolve=deps.resolve) as senders:
        yield senders


async def dispatch_alerts(deps: IngestDeps, *, budget: float = BUDGET_SECONDS) -> DispatchSummary:
    """Passes until one finds nothing to do and no wake-up came in (or `budget` seconds
    have gone: then `more` says whether work is left)."""
    summary = DispatchSummary()
    queue, name = deps.queue, deps.settings.queue_name
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    async with _senders(deps) as senders:
        while True:
            await take_dirty(queue, name)
            summary.passes += 1
            summary.matched += await match_all(deps)
            worked = await _deliver_due(deps, senders, summary)
            if loop.time() >= deadline:
                summary.more = worked or await is_dirty(queue, name)
                break
            if worked or await is_dirty(queue, name):
                continue
            wait = await _short_wait(deps, deadline - loop.time())
            if wait is None:
                break
            await asyncio.sleep(wait)
    return summary
