"""Watches changed after they were made: the description round-trips, a change rewrites the
index entries that matching reads; and what a watch may hold (nothing PostgreSQL refuses)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.alerts.entities import Delivery, Watch, WatchKey
from src.domain.alerts.schemas import WatchSpec
from src.domain.alerts.services.deliveries import counts_by_watch
from src.domain.alerts.services.matching import match_pending
from src.domain.alerts.services.watches import OPERATOR, WatchExistsError, WatchService
from src.domain.tender.services import TenderService
from tests.domain.alerts.test_matching import _record


async def _keys(session: AsyncSession, watch: Watch) -> list[str]:
    found = await session.scalars(
        select(WatchKey.key).where(WatchKey.watch_id == watch.id).order_by(WatchKey.key)
    )
    return list(found)


async def _delivered(session: AsyncSession, watch: Watch) -> int:
    return len((await session.scalars(select(Delivery).where(Delivery.watch_id == watch.id))).all())


async def test_a_change_rewrites_the_index_and_matching_follows(db_session: AsyncSession) -> None:
    spec = WatchSpec(name="w", webhook_url="https://example.org/hook", cpv=["45"])
    watch = await WatchService.create(db_session, spec, owner=OPERATOR)
    secret = watch.secret
    assert WatchService.spec(watch) == spec, "the description round-trips"
    assert await _keys(db_session, watch) == ["cpv:45"]

    await TenderService.upsert_many(db_session, [_record("1")])
    await match_pending(db_session)
    assert await _delivered(db_session, watch) == 0, "CPV 55523100 is not under 45"

    changed = WatchSpec(**{**spec.model_dump(), "cpv": [], "nuts": ["ITC4"], "name": "mense"})
    watch = await WatchService.update(db_session, watch, changed)
    assert (watch.name, watch.cpv, watch.nuts, watch.secret) == ("mense", [], ["ITC4"], secret)
    assert await _keys(db_session, watch) == ["nuts:ITC4"]
    await TenderService.upsert_many(db_session, [_record("2")])
    await match_pending(db_session)
    assert await _delivered(db_session, watch) == 1, "the new filters match the new tender"
    assert await counts_by_watch(db_session, [watch.id]) == {watch.id: {"pending": 1}}


async def test_a_change_to_a_taken_name_is_refused(db_session: AsyncSession) -> None:
    spec = WatchSpec(name="first", email="a@example.org")
    await WatchService.create(db_session, spec, owner=OPERATOR)
    second = await WatchService.create(
        db_session, spec.model_copy(update={"name": "second"}), owner=OPERATOR
    )
    with pytest.raises(WatchExistsError):
        async with db_session.begin_nested():
            await WatchService.update(db_session, second, spec)


@pytest.mark.parametrize(
    "spec",
    [
        {"sources": ["anac\x00"]},
        {"buyer_ids": ["x\x00y"]},
        {"cpv": ["٤٥"]},  # Arabic-Indic digits: not a CPV code
        {"amount_min": "10.001"},
        {"amount_max": "1e16"},
    ],
)
def test_what_a_watch_cannot_hold(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        WatchSpec(name="w", email="a@example.org", **spec)


@pytest.mark.parametrize(
    "target",
    [
        {"email": "a\x00b@example.org"},
        {"webhook_url": "https://"},
        {"webhook_url": "https://example.org:99999/"},
        {"webhook_url": "http://[::1/x"},
        {"webhook_url": "https://exa mple.org/"},
        {"webhook_url": "https://example.org/\x00"},
    ],
)
def test_a_target_that_is_no_address_is_refused(target: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        WatchSpec(name="w", **target)
