"""The hot read routes write their JSON themselves (src/api/rows.py): it must be, byte for
byte, what their response models would have made of the same tenders through pydantic."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.api.schemas import TenderOut, TenderPage
from src.domain.tender.entities import Tender
from tests.support.api import BASE_TIME, record, store


async def test_tenders_are_written_as_their_response_model_writes_them(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await store(
        sessions,
        [
            record(1),
            record(
                2,
                title='Servizi — «pulizia» ünd "virgolette" \\ e\ttab',
                amount="0.10",
                award_amount="99999999.99",
                award_currency="EUR",
                awarded_at=BASE_TIME + timedelta(microseconds=123456),
                supplier_name="Ditta S.r.l.",
                supplier_id="IT-01234567890",
            ),
            record(3, source="ted", procedure_id="ted-3", cig=None, amount=None, cpv=None),
        ],
    )
    async with sessions() as session:
        tenders = (await session.scalars(select(Tender).order_by(Tender.cig))).all()
    expected = {t.id: TenderOut.model_validate(t).model_dump_json().encode() for t in tenders}

    for tender in tenders:
        by_id = await client.get(f"/tenders/{tender.id}")
        assert by_id.content == expected[tender.id]
        assert by_id.headers["content-type"] == "application/json"
        if tender.cig is not None:
            assert (await client.get(f"/tenders/by-cig/{tender.cig}")).content == expected[
                tender.id
            ]

    page = await client.get("/tenders", params={"limit": 2})
    ids = [item["id"] for item in page.json()["items"]]
    made = {str(t.id): t for t in tenders}
    model = TenderPage(
        items=[TenderOut.model_validate(made[i]) for i in ids],
        next_cursor=page.json()["next_cursor"],
    )
    assert page.json()["next_cursor"] is not None
    assert page.content == model.model_dump_json().encode()
    last = await client.get("/tenders", params={"limit": 2, "cursor": page.json()["next_cursor"]})
    assert last.json()["next_cursor"] is None
    assert b'"next_cursor":null' in last.content
