"""Reading tenders over HTTP: one, filtered lists, pages, history; 404s and 422s."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support.api import BASE_TIME, record, store

Sessions = async_sessionmaker[AsyncSession]


async def test_get_one_tender_by_id_and_by_cig(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await store(sessions, [record(1)])
    listed = (await client.get("/tenders")).json()["items"]
    tender_id = listed[0]["id"]

    by_id = await client.get(f"/tenders/{tender_id}")
    assert by_id.status_code == 200
    body = by_id.json()
    assert body["cig"] == "0000001A0B"
    assert body["amount"] == "125000.50", "amounts are exact decimal strings"
    assert body["deadline_at"] == "2025-04-01T09:00:00Z"

    by_cig = await client.get("/tenders/by-cig/0000001a0b")
    assert by_cig.status_code == 200
    assert by_cig.json()["id"] == tender_id


async def test_absent_tenders_are_404(client: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    response = await client.get(f"/tenders/{missing}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"no tender has id {missing}"}
    assert (await client.get("/tenders/by-cig/9999999Z9Z")).status_code == 404
    assert (await client.get(f"/tenders/{missing}/history")).status_code == 404


async def test_malformed_ids_are_422_with_a_message(client: httpx.AsyncClient) -> None:
    response = await client.get("/tenders/not-a-uuid")
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["path", "tender_id"]
    assert "UUID" in error["msg"]
    bad_cig = await client.get("/tenders/by-cig/12345")
    assert bad_cig.status_code == 422
    assert "10 letters and digits" in bad_cig.json()["detail"][0]["msg"]


async def test_each_filter(client: httpx.AsyncClient, sessions: Sessions) -> None:
    await store(
        sessions,
        [
            record(1),
            record(2, cpv="79710000-4", buyer_id="B-2", status="complete"),
            record(3, source="ted", procedure_id="ted-3", cig=None, title="Servizi di pulizia"),
            record(4, description="Fornitura di arredi scolastici", title="Arredi"),
        ],
    )

    async def cigs(**params: str) -> set[str | None]:
        response = await client.get("/tenders", params=params)
        assert response.status_code == 200, response.text
        return {item["cig"] or item["procedure_id"] for item in response.json()["items"]}

    assert await cigs() == {"0000001A0B", "0000002A0B", "ted-3", "0000004A0B"}
    assert await cigs(cig="0000002a0b") == {"0000002A0B"}
    assert await cigs(cpv="79") == {"0000002A0B"}
    assert await cigs(cpv="4523") == {"0000001A0B", "ted-3", "0000004A0B"}
    assert await cigs(cpv="79000000-8") == {"0000002A0B"}, "a full code means its division"
    assert await cigs(cpv="79710000") == {"0000002A0B"}
    assert await cigs(cpv="45233141-9") == {"0000001A0B", "ted-3", "0000004A0B"}
    assert await cigs(buyer_id="B-2") == {"0000002A0B"}
    assert await cigs(status="complete") == {"0000002A0B"}
    assert await cigs(source="ted") == {"ted-3"}
    assert await cigs(deadline_before=(BASE_TIME + timedelta(days=33)).isoformat()) == {
        "0000001A0B",
        "0000002A0B",
    }
    assert await cigs(deadline_after="2025-04-03T09:00:00Z") == {"ted-3", "0000004A0B"}
    assert await cigs(published_after="2025-03-04T09:00:01") == {"0000004A0B"}, "naive: UTC"
    assert await cigs(published_after="2025-03-04T10:00:00+01:00") == {"ted-3", "0000004A0B"}
    assert await cigs(q="pulizia") == {"ted-3"}
    assert await cigs(q="ARREDI scol") == {"0000004A0B"}, "words by prefix, any case"
    assert await cigs(q="manutenz strad") == {"0000001A0B", "0000002A0B", "ted-3"}
    assert await cigs(q="pulizia manutenzione") == {"ted-3"}, "title and description"
    assert await cigs(q="manutenzione arredi") == set(), "every word must match"
    assert await cigs(status="active", cpv="45", source="anac") == {"0000001A0B", "0000004A0B"}


async def test_pages_follow_each_other_to_the_end(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await store(sessions, [record(n) for n in range(1, 8)])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/tenders", params=params)
        assert response.status_code == 200
        page = response.json()
        seen += [item["cig"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == [f"{n:07d}A0B" for n in range(1, 8)]
    assert len(set(seen)) == 7


async def test_an_exact_last_page_has_no_next_cursor(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await store(sessions, [record(n) for n in range(1, 5)])
    first = (await client.get("/tenders", params={"limit": 2})).json()
    second = (
        await client.get("/tenders", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert len(second["items"]) == 2
    assert second["next_cursor"] is None


async def test_paging_is_stable_while_tenders_are_written(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    """Newest first by (created_at, id): inserts during paging come before the first page,
    and updates (even of the publication date) move nothing."""
    for n in range(1, 7):
        await store(sessions, [record(n)])
    first = (await client.get("/tenders", params={"limit": 2})).json()
    assert [item["cig"] for item in first["items"]] == ["0000006A0B", "0000005A0B"]

    await store(sessions, [record(n) for n in range(100, 110)])
    await store(
        sessions,
        [
            record(
                3,
                published_at=BASE_TIME + timedelta(days=400),
                source_updated_at=BASE_TIME + timedelta(days=400),
            ),
        ],
    )
    rest: list[str] = []
    cursor = first["next_cursor"]
    while cursor:
        page = (await client.get("/tenders", params={"limit": 2, "cursor": cursor})).json()
        rest += [item["cig"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert rest == ["0000004A0B", "0000003A0B", "0000002A0B", "0000001A0B"]


async def test_validation_errors_say_what_is_wrong(client: httpx.AsyncClient) -> None:
    async def error(**params: str) -> dict[str, object]:
        response = await client.get("/tenders", params=params)
        assert response.status_code == 422, response.text
        detail: list[dict[str, object]] = response.json()["detail"]
        return detail[0]

    too_many = await error(limit="501")
    assert too_many["loc"] == ["query", "limit"]
    assert "less than or equal to 500" in str(too_many["msg"])
    assert "greater than or equal to 1" in str((await error(limit="0"))["msg"])
    bad_cursor = await error(cursor="not-a-cursor")
    assert bad_cursor["loc"] == ["query", "cursor"]
    assert "next_cursor" in str(bad_cursor["msg"])
    bad_date = await error(deadline_before="next tuesday")
    assert bad_date["loc"] == ["query", "deadline_before"]
    assert "datetime" in str(bad_date["msg"])
    status = await error(status="open")
    assert status["loc"] == ["query", "status"]
    assert "'active'" in str(status["msg"]), "the message lists the valid statuses"
    assert "word" in str((await error(q="!!"))["msg"])
    assert "digits" in str((await error(cpv="abc"))["msg"])
    assert "NUL" in str((await error(buyer_id="a\x00b"))["msg"])


async def test_a_changes_cursor_is_not_a_tenders_cursor(client: httpx.AsyncClient) -> None:
    feed = (await client.get("/changes", params={"since": "2000-01-01"})).json()
    response = await client.get("/tenders", params={"cursor": feed["next_cursor"]})
    assert response.status_code == 422
    assert "another list" in response.json()["detail"][0]["msg"]


async def test_history_of_a_tender(client: httpx.AsyncClient, sessions: Sessions) -> None:
    await store(sessions, [record(1)])
    moved = BASE_TIME + timedelta(days=60)
    await store(
        sessions,
        [record(1, deadline_at=moved, source_updated_at=BASE_TIME + timedelta(days=5))],
    )
    tender = (await client.get("/tenders/by-cig/0000001A0B")).json()
    response = await client.get(f"/tenders/{tender['id']}/history")
    assert response.status_code == 200
    history = response.json()
    assert history["tender_id"] == tender["id"]
    [change] = history["items"]
    assert change["field"] == "deadline_at"
    assert change["old_value"] == "2025-04-01T09:00:00+00:00"
    assert change["new_value"] == moved.isoformat()
