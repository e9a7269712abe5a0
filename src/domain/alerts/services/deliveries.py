"""Deliveries: the due ones claimed for sending, their outcome recorded, listed, replayed;
and the `deadline_near` events the clock makes.

A claim takes a watch's due deliveries under `FOR UPDATE SKIP LOCKED` and holds them for
the sending (which happens outside any transaction): the claim sets `next_attempt_at` a lease
ahead and counts the attempt, so a dispatcher killed mid-send leaves them due again when the
lease ends: delivered at least once, and the event id lets the receiver drop a duplicate."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.alerts.entities import Delivery, TenderEvent, Watch
from src.domain.alerts.services.matching import SEARCH_DOCUMENT, watch_matches
from src.domain.tender.entities import Tender
from src.domain.tender.services.export import EXPORT_FIELDS

DIGEST_PERIODS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}


@dataclass(frozen=True)
class EventPayload:
    """One event as sent: its id, kind, when, the tender's export fields, and for a change
    {field: [old, new]}; `delivery_id` names its delivery to this watch."""

    delivery_id: uuid.UUID
    event_id: uuid.UUID
    kind: str
    created_at: datetime
    tender: dict[str, Any]
    changes: dict[str, Any] | None
    replay: bool
    # Attempts at this delivery so far, the one being made included (a claim counts it).
    attempts: int = 0


async def due_watches(session: AsyncSession, now: datetime, *, limit: int = 100) -> Sequence[Watch]:
    """Unpaused watches with a delivery due, whose digest period (email) has passed."""
    # One index probe per watch (ix_deliveries_watch_due), whatever the planner thinks of
    # tables not analyzed yet: a join with the distinct due watch ids was planned as a
    # nested loop that sorted every due delivery once per watch (seconds at 1,000 watches).
    due = (
        select(Delivery.id)
        .where(
            Delivery.watch_id == Watch.id,
            Delivery.status == "pending",
            Delivery.next_attempt_at <= now,
        )
        .exists()
    )
    watches = (await session.scalars(select(Watch).where(Watch.paused_at.is_(None), due))).all()
    return [watch for watch in watches if _digest_due(watch, now)][:limit]


def _digest_due(watch: Watch, now: datetime) -> bool:
    period = DIGEST_PERIODS.get(watch.digest) if watch.email else None
    return period is None or watch.last_sent_at is None or watch.last_sent_at + period <= now


async def claim(
    session: AsyncSession,
    watch_id: uuid.UUID,
    now: datetime,
    *,
    lease: timedelta,
    limit: int = 100,
) -> list[EventPayload]:
    """Up to `limit` due deliveries of one watch, oldest event first, leased for `lease`
    and counted as an attempt; those another dispatcher holds are skipped."""
    ids = (
        await session.scalars(
            select(Delivery.id)
            .join(TenderEvent, TenderEvent.id == Delivery.event_id)
            .where(
                Delivery.watch_id == watch_id,
                Delivery.status == "pending",
                Delivery.next_attempt_at <= now,
            )
            .order_by(TenderEvent.seq, Delivery.id)
            .limit(limit)
            .with_for_update(of=Delivery, skip_locked=True)
        )
    ).all()
    if not ids:
        return []
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids))
        .values(attempts=Delivery.attempts + 1, last_attempt_at=now, next_attempt_at=now + lease)
    )
    return await payloads(session, ids)


async def payloads(session: AsyncSession, delivery_ids: Sequence[uuid.UUID]) -> list[EventPayload]:
    columns = [getattr(Tender, name) for name in EXPORT_FIELDS]
    rows = await session.execute(
        select(Delivery.id, Delivery.replay, Delivery.attempts, TenderEvent, *columns)
        .join(TenderEvent, TenderEvent.id == Delivery.event_id)
        .join(Tender, Tender.id == TenderEvent.tender_id)
        .where(Delivery.id.in_(delivery_ids))
        .order_by(TenderEvent.seq, Delivery.id)
    )
    return [
        EventPayload(
            delivery_id=row[0],
            event_id=row[3].id,
            kind=row[3].kind,
            created_at=row[3].created_at,
            tender=dict(zip(EXPORT_FIELDS, row[4:], strict=True)),
            changes=row[3].changes,
            replay=row[1],
            attempts=row[2],
        )
        for row in rows
    ]


async def record_sent(
    session: AsyncSession,
    watch_id: uuid.UUID,
    delivery_ids: Sequence[uuid.UUID],
    now: datetime,
    *,
    response_code: int | None,
) -> None:
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids))
        .values(status="sent", sent_at=now, response_code=response_code, error=None)
    )
    await session.execute(
        update(Watch).where(Watch.id == watch_id).values(consecutive_failures=0, last_sent_at=now)
    )


async def record_failed(
    session: AsyncSession,
    watch_id: uuid.UUID,
    delivery_ids: Sequence[uuid.UUID],
    now: datetime,
    *,
    response_code: int | None,
    error: str,
    retry_at: datetime | None,
    pause_after: int,
    give_up: Sequence[uuid.UUID] = (),
) -> bool:
    """A failed attempt (one send, however many deliveries it carried): due again at
    `retry_at`, or failed for good (None); those in `give_up` (out of attempts) fail for
    good either way. The watch is paused after `pause_after` failures in a row, with the
    reason; returns whether it was."""
    final = set(give_up) if retry_at is not None else set(delivery_ids)
    retried = [i for i in delivery_ids if i not in final]
    for ids, retry in ((retried, retry_at), ([i for i in delivery_ids if i in final], None)):
        if not ids:
            continue
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(
                status="pending" if retry is not None else "failed",
                next_attempt_at=retry if retry is not None else now,
                response_code=response_code,
                error=error[:2000],
            )
        )
    failures = (
        await session.execute(
            update(Watch)
            .where(Watch.id == watch_id)
            .values(consecutive_failures=Watch.consecutive_failures + 1)
            .returning(Watch.consecutive_failures)
        )
    ).scalar_one()
    if failures < pause_after:
        return False
    await session.execute(
        update(Watch)
        .where(Watch.id == watch_id, Watch.paused_at.is_(None))
        .values(
            paused_at=now,
            paused_reason=(
                f"paused after {failures} failed deliveries in a row (the last: {error[:1000]}); "
                "fix the target, then resume the watch"
            )[:2000],
        )
    )
    return True


async def hold(
    session: AsyncSession, watch_id: uuid.UUID, now: datetime, *, until: datetime, error: str
) -> int:
    """The watch's due deliveries wait until `until`, with `error` saying why, without an
    attempt counted (nothing was tried: the means of sending is missing). Returns how many."""
    result = await session.execute(
        update(Delivery)
        .where(
            Delivery.watch_id == watch_id,
            Delivery.status == "pending",
            Delivery.next_attempt_at <= now,
        )
        .values(next_attempt_at=until, error=error[:2000])
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the next pending delivery of an unpaused watch falls due (an email digest's
    period counted), or None when nothing is pending."""
    rows = await session.execute(
        select(Watch.email, Watch.digest, Watch.last_sent_at, func.min(Delivery.next_attempt_at))
        .join(Delivery, Delivery.watch_id == Watch.id)
        .where(Delivery.status == "pending", Watch.paused_at.is_(None))
        .group_by(Watch.id)
    )
    moments: list[datetime] = []
    for email, digest, last_sent_at, due_at in rows:
        period = DIGEST_PERIODS.get(digest) if email else None
        if period is not None and last_sent_at is not None:
            due_at = max(due_at, last_sent_at + period)
        moments.append(due_at)
    return min(moments, default=None)


async def list_deliveries(
    session: AsyncSession,
    *,
    watch_ids: Sequence[uuid.UUID] | None = None,
    failed: bool = False,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest deliveries (of these watches), with their event and tender; `failed`: only
    those that failed for good or whose last attempt failed."""
    query = (
        select(
            Delivery,
            Watch.name,
            TenderEvent.kind,
            TenderEvent.tender_id,
            Tender.cig,
            Tender.identity_key,
            Tender.title,
        )
        .join(Watch, Watch.id == Delivery.watch_id)
        .join(TenderEvent, TenderEvent.id == Delivery.event_id)
        .join(Tender, Tender.id == TenderEvent.tender_id)
        .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        .limit(limit)
    )
    if watch_ids is not None:
        query = query.where(Delivery.watch_id.in_(watch_ids))
    if failed:
        query = query.where(Delivery.error.is_not(None), Delivery.status != "sent")
    rows = await session.execute(query)
    return [
        {
            "id": delivery.id,
            "watch": name,
            "watch_id": delivery.watch_id,
            "event_id": delivery.event_id,
            "kind": kind,
            "tender_id": tender_id,
            "cig": cig,
            "identity_key": key,
            "title": title,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "response_code": delivery.response_code,
            "error": delivery.error,
            "created_at": delivery.created_at,
            "last_attempt_at": delivery.last_attempt_at,
            "sent_at": delivery.sent_at,
            "next_attempt_at": delivery.next_attempt_at if delivery.status == "pending" else None,
            "replay": delivery.replay,
        }
        for delivery, name, kind, tender_id, cig, key, title in rows
    ]


async def replay(session: AsyncSession, watch: Watch, since: datetime) -> int:
    """The events this watch was sent (or was to be sent) since `since`, due again as new
    deliveries marked as replays (same event ids). Returns how many."""
    result = await session.execute(
        text(
            "INSERT INTO deliveries (id, watch_id, event_id, replay) "
            "SELECT gen_random_uuid(), d.watch_id, d.event_id, true FROM deliveries d "
            "JOIN tender_events e ON e.id = d.event_id "
            "WHERE d.watch_id = :watch AND NOT d.replay AND e.created_at >= :since"
        ),
        {"watch": watch.id, "since": since},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


_DEADLINE_NEAR = text(f"""
INSERT INTO tender_events (id, tender_id, kind, watch_id)
SELECT gen_random_uuid(), t.id, 'deadline_near', w.id
FROM watches w JOIN tenders t
  ON t.deadline_at > :now AND t.deadline_at <= :now + make_interval(days => w.deadline_days)
CROSS JOIN LATERAL (SELECT 'deadline_near'::text AS kind, NULL::jsonb AS changes) AS p
WHERE 'deadline_near' = ANY(w.events) AND {watch_matches(SEARCH_DOCUMENT)}
ON CONFLICT (watch_id, tender_id) WHERE kind = 'deadline_near' DO NOTHING
""")  # noqa: S608 - no input in the text


async def make_deadline_events(session: AsyncSession, now: datetime) -> int:
    """One `deadline_near` event per watch and tender whose deadline is within the watch's
    days (never for a closed tender, never twice). Returns how many were made."""
    result = await session.execute(_DEADLINE_NEAR, {"now": now})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def counts_by_status(session: AsyncSession, watch_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.watch_id == watch_id)
        .group_by(Delivery.status)
    )
    return {status: int(count) for status, count in rows}


async def counts_by_watch(
    session: AsyncSession, watch_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """`counts_by_status` of several watches in one query (a watch without deliveries: {})."""
    counts: dict[uuid.UUID, dict[str, int]] = {watch_id: {} for watch_id in watch_ids}
    if not watch_ids:
        return counts
    rows = await session.execute(
        select(Delivery.watch_id, Delivery.status, func.count())
        .where(Delivery.watch_id.in_(watch_ids))
        .group_by(Delivery.watch_id, Delivery.status)
    )
    for watch_id, status, count in rows:
        counts[watch_id][status] = int(count)
    return counts
