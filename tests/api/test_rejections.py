"""`GET /ingest-jobs/{id}/rejections`: rejected records and field warnings of a run."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.domain.runs.request import IngestRequest
from src.domain.runs.services import RunService
from src.domain.tender.schemas import FieldWarning, UpsertCounts


async def test_the_api_lists_warnings_beside_rejections(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    run_id = uuid.uuid4()
    async with sessions() as session, session.begin():
        await RunService.start(
            session, IngestRequest("file.csv", run_id=run_id), job_id=None, max_attempts=1
        )
        await RunService.record_batch(
            session,
            run_id,
            source="file.csv",
            counts=UpsertCounts(inserted=1),
            rejected=[],
            records_done=1,
            warnings=[("line 2", FieldWarning.of("currency", "at most 3 characters", "EURX"))],
        )
    job = (await client.get(f"/ingest-jobs/{run_id}")).json()
    assert job["counts"]["warnings"] == 1
    page = await client.get(f"/ingest-jobs/{run_id}/rejections", params={"kind": "field"})
    assert page.status_code == 200, page.text
    [item] = page.json()["items"]
    assert (item["kind"], item["field"], item["raw_value"], item["position"]) == (
        "field",
        "currency",
        "EURX",
        "line 2",
    )
    none = await client.get(f"/ingest-jobs/{run_id}/rejections", params={"kind": "record"})
    assert none.json()["items"] == []
    missing = await client.get(f"/ingest-jobs/{uuid.uuid4()}/rejections")
    assert missing.status_code == 404
