"""Events from the ingest's own transaction, matched to watches in SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.alerts.entities import Delivery, TenderEvent, Watch
from src.domain.alerts.schemas import WatchSpec
from src.domain.alerts.services.deliveries import make_deadline_events
from src.domain.alerts.services.matching import match_pending
from src.domain.alerts.services.retention import prune
from src.domain.alerts.services.watches import OPERATOR, WatchExistsError, WatchService
from src.domain.tender.entities import Tender
from src.domain.tender.schemas import TenderRecord
from src.domain.tender.services import TenderService

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _record(lot: str, **fields: Any) -> TenderRecord:
    values: dict[str, Any] = {
        "title": "Servizio di mensa scolastica",
        "source": "ted",
        "procedure_id": "proc-1",
        "lot_id": lot,
        "cpv": "55523100",
        "nuts": "ITC45",
        "amount": Decimal("100000"),
        "currency": "EUR",
        "status": "active",
        "buyer_id": "COMUNE-MI",
        "buyer_name": "Comune di Milano",
        "deadline_at": NOW + timedelta(days=30),
        "source_updated_at": NOW,
    }
    values.update(fields)
    return TenderRecord(**values)


async def _watch(session: AsyncSession, name: str, **spec: Any) -> Watch:
    if "email" not in spec:
        spec.setdefault("webhook_url", "https://example.org/hook")
    return await WatchService.create(session, WatchSpec(name=name, **spec), owner=OPERATOR)


async def _delivered(session: AsyncSession, watch: Watch) -> list[tuple[str, str | None]]:
    rows = await session.execute(
        select(TenderEvent.kind, TenderEvent.changes)
        .join(Delivery, Delivery.event_id == TenderEvent.id)
        .where(Delivery.watch_id == watch.id)
        .order_by(TenderEvent.seq)
    )
    return [
        (kind, None if changes is None else ",".join(sorted(changes))) for kind, changes in rows
    ]


async def test_new_and_changed_tenders_reach_the_watches_whose_filters_hold(
    db_session: AsyncSession,
) -> None:
    fits = await _watch(db_session, "mense", cpv=["5552"], nuts=["ITC4"], words="mensa scolastica")
    other_cpv = await _watch(db_session, "lavori", cpv=["45"])
    other_place = await _watch(db_session, "lazio", nuts=["ITI4"])
    too_small = await _watch(db_session, "big", amount_min=Decimal("1000000"))
    deadline_only = await _watch(
        db_session, "deadline", cpv=["55"], events=["changed"], fields=["deadline_at"]
    )
    everything = await _watch(db_session, "all", email="a@example.org")

    await TenderService.upsert_many(db_session, [_record("1"), _record("2", title="Altro")])
    assert (await match_pending(db_session)).events >= 2
    moved = _record("1", deadline_at=NOW + timedelta(days=40), source_updated_at=NOW + timedelta(1))
    retitled = _record("2", title="Altro ancora", source_updated_at=NOW + timedelta(1))
    await TenderService.upsert_many(db_session, [moved, retitled])
    await match_pending(db_session)

    assert await _delivered(db_session, fits) == [("new", None), ("changed", "deadline_at")]
    assert await _delivered(db_session, other_cpv) == []
    assert await _delivered(db_session, other_place) == []
    assert await _delivered(db_session, too_small) == []
    assert await _delivered(db_session, deadline_only) == [("changed", "deadline_at")]
    assert [kind for kind, _ in await _delivered(db_session, everything)] == [
        "new",
        "new",
        "changed",
        "changed",
    ]


async def test_a_watch_of_words_only_finds_its_words_anywhere(db_session: AsyncSession) -> None:
    words = await _watch(db_session, "words", words="scolast mensa")
    short = await _watch(db_session, "short", words="di")
    await TenderService.upsert_many(
        db_session,
        [
            _record("1"),
            _record("2", title="Refezione", description="mensa per la scuola scolastica"),
            _record("3", title="Pulizia", description="mensa aziendale"),
        ],
    )
    await match_pending(db_session)
    assert len(await _delivered(db_session, words)) == 2
    assert len(await _delivered(db_session, short)) == 1


async def test_an_unchanged_write_and_a_second_match_make_nothing(db_session: AsyncSession) -> None:
    watch = await _watch(db_session, "all")
    await TenderService.upsert_many(db_session, [_record("1")])
    first = await match_pending(db_session)
    await TenderService.upsert_many(db_session, [_record("1")])
    second = await match_pending(db_session)
    assert first.deliveries == 1
    assert second.deliveries == 0
    assert len(await _delivered(db_session, watch)) == 1


async def test_an_event_no_watch_wants_leaves_nothing_behind(db_session: AsyncSession) -> None:
    watch = await _watch(db_session, "works", cpv=["45"])
    await TenderService.upsert_many(db_session, [_record("1"), _record("2", cpv="45210000")])
    await match_pending(db_session)
    kept = (
        await db_session.scalars(
            select(TenderEvent.kind)
            .join(Tender, Tender.id == TenderEvent.tender_id)
            .where(Tender.procedure_id == "proc-1", Tender.source == "ted")
        )
    ).all()
    assert kept == ["new"]
    assert await _delivered(db_session, watch) == [("new", None)]


async def test_no_event_is_written_while_no_watch_exists(db_session: AsyncSession) -> None:
    async def events_of(lot: str) -> list[str]:
        rows = await db_session.scalars(
            select(TenderEvent.kind)
            .join(Tender, Tender.id == TenderEvent.tender_id)
            .where(Tender.source == "ted", Tender.lot_id == lot)
        )
        return list(rows)

    counts = await TenderService.upsert_many(db_session, [_record("1")])
    assert (counts.inserted, counts.events) == (1, 0)
    assert await events_of("1") == []

    await _watch(db_session, "all")
    moved = _record("1", deadline_at=NOW + timedelta(days=9), source_updated_at=NOW + timedelta(1))
    counts = await TenderService.upsert_many(db_session, [moved, _record("2")])
    assert (counts.inserted, counts.updated, counts.events) == (1, 1, 2)
    assert await events_of("1") == ["changed"]
    assert await events_of("2") == ["new"]


async def test_a_quiet_write_makes_no_event(db_session: AsyncSession) -> None:
    watch = await _watch(db_session, "all")
    await TenderService.upsert_many(db_session, [_record("1")], events=False)
    await match_pending(db_session)
    assert await _delivered(db_session, watch) == []


async def test_deadline_near_once_per_watch_and_tender_never_when_closed(
    db_session: AsyncSession,
) -> None:
    watch = await _watch(db_session, "soon", events=["deadline_near"], deadline_days=5)
    await TenderService.upsert_many(
        db_session,
        [
            _record("soon", deadline_at=NOW + timedelta(days=3)),
            _record("later", deadline_at=NOW + timedelta(days=9)),
            _record("cancelled", deadline_at=NOW + timedelta(days=2), status="cancelled"),
            _record("awarded", deadline_at=NOW + timedelta(days=2), awarded_at=NOW),
            _record("past", deadline_at=NOW - timedelta(days=1)),
        ],
    )
    assert await make_deadline_events(db_session, NOW) == 1
    assert await make_deadline_events(db_session, NOW + timedelta(hours=1)) == 0
    await match_pending(db_session)
    assert await _delivered(db_session, watch) == [("deadline_near", None)]


async def test_a_watch_name_is_unique_per_owner(db_session: AsyncSession) -> None:
    await _watch(db_session, "twice")
    with pytest.raises(WatchExistsError):
        async with db_session.begin_nested():
            await _watch(db_session, "twice")


@pytest.mark.parametrize(
    "spec",
    [
        {"webhook_url": "https://x.org", "email": "a@b.org"},
        {},
        {"webhook_url": "ftp://x.org"},
        {"webhook_url": "https://x.org", "digest": "daily"},
        {"email": "not-an-address"},
        {"email": "a@b.org", "cpv": ["45x"]},
        {"email": "a@b.org", "nuts": ["I"]},
        {"email": "a@b.org", "statuses": ["open"]},
        {"email": "a@b.org", "fields": ["colour"]},
        {"email": "a@b.org", "events": []},
        {"email": "a@b.org", "amount_min": 10, "amount_max": 5},
        {"email": "a@b.org", "words": "!"},
    ],
)
def test_a_wrong_watch_is_refused_with_a_reason(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        WatchSpec(name="w", **spec)


def test_a_watch_is_indexed_by_its_most_selective_filter() -> None:
    spec = WatchSpec(name="w", email="a@b.org", cpv=["45000000-7", "4521"], nuts=["itc4"])
    assert spec.cpv == ["45", "4521"]
    assert spec.nuts == ["ITC4"]
    assert spec.index_keys() == ["cpv:45", "cpv:4521"]
    assert WatchSpec(name="w", email="a@b.org", words="la Mensa").index_keys() == ["word:mens"]
    assert WatchSpec(name="w", email="a@b.org", words="la ASL").index_keys() == ["*"]
    assert WatchSpec(name="w", email="a@b.org").index_keys() == ["*"]


async def test_ended_deliveries_and_their_events_are_pruned_after_retention(
    db_session: AsyncSession,
) -> None:
    watch = await _watch(db_session, "all")
    await TenderService.upsert_many(db_session, [_record("1"), _record("2")])
    await match_pending(db_session)
    deliveries = (
        await db_session.scalars(select(Delivery).where(Delivery.watch_id == watch.id))
    ).all()
    sent, pending = deliveries
    sent.status, sent.sent_at = "sent", NOW
    await db_session.flush()
    pruned = await prune(db_session, datetime.now(UTC) + timedelta(days=1))
    assert pruned.deliveries >= 1
    left = (
        await db_session.scalars(select(Delivery.id).where(Delivery.watch_id == watch.id))
    ).all()
    assert left == [pending.id]
    assert await db_session.get(TenderEvent, sent.event_id) is None
    assert await db_session.get(TenderEvent, pending.event_id) is not None
