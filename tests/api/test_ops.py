"""Health, metrics, and the server entry point."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings
from src.domain.runs.entities import IngestRun
from src.domain.runs.request import IngestRequest
from src.domain.runs.services import RunService
from src.domain.tender.schemas import RejectedRecord, UpsertCounts
from tests.support.api import build_app, clear_queue, running
from tests.support.paths import ROOT
from tests.support.polling import until

Sessions = async_sessionmaker[AsyncSession]


async def test_healthy(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "postgres": "ok", "redis": "ok", "analytics": None}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_postgres_down_is_503(api_settings: Settings) -> None:
    down = f"postgresql://tenders:secret@127.0.0.1:{closed_port()}/tenders"
    settings = Settings(**{**api_settings.model_dump(), "database_url": down})
    try:
        async with running(build_app(settings)) as client:
            health = await client.get("/healthz")
            assert health.status_code == 503
            body = health.json()
            assert body["status"] == "unavailable"
            assert body["postgres"].startswith("unavailable (") and body["redis"] == "ok"
            # Why, with the address (an operator's first question), never the password.
            assert body["detail"].startswith("postgres: connection refused at 127.0.0.1:")
            assert "secret" not in health.text
            read = await client.get(f"/tenders/{uuid.uuid4()}")
            assert read.status_code == 503
            assert read.headers["retry-after"] == "5"
    finally:
        await clear_queue(settings)


async def _runs(sessions: Sessions) -> None:
    """One queued run, one complete (3 inserted, 1 updated, 2 unchanged, 1 rejected) that
    took 90 seconds, one failed."""
    complete, failed = uuid.uuid4(), uuid.uuid4()
    async with sessions() as session, session.begin():
        await RunService.queue(session, IngestRequest("a"), job_id="j1")
        await RunService.start(
            session, IngestRequest("b", run_id=complete), job_id="j2", max_attempts=5
        )
        await RunService.record_batch(
            session,
            complete,
            source="b",
            counts=UpsertCounts(inserted=3, updated=1, unchanged=2),
            rejected=[RejectedRecord(reason="no CIG")],
            records_done=7,
        )
        await RunService.finish(session, complete)
        await session.execute(
            update(IngestRun)
            .where(IngestRun.id == complete)
            .values(finished_at=IngestRun.started_at + timedelta(seconds=90))
        )
        await RunService.start(
            session, IngestRequest("c", run_id=failed), job_id="j3", max_attempts=5
        )
        await RunService.finish(session, failed, error="SourceError: no such file")


async def test_metrics_come_from_the_runs_table(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await _runs(sessions)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    jobs = {
        status: samples[("tenders_ingest_jobs", (("status", status),))]
        for status in ("queued", "running", "complete", "failed")
    }
    assert jobs == {"queued": 1, "running": 0, "complete": 1, "failed": 1}
    rows = {
        o: samples[("tenders_ingest_rows_total", (("outcome", o),))]
        for o in ("inserted", "updated", "unchanged", "rejected")
    }
    assert rows == {"inserted": 3, "updated": 1, "unchanged": 2, "rejected": 1}
    assert samples[("tenders_ingest_rejections_total", ())] == 1
    complete = (("status", "complete"),)
    assert samples[("tenders_ingest_duration_seconds_count", complete)] == 1
    assert samples[("tenders_ingest_duration_seconds_sum", complete)] == 90
    assert samples[("tenders_ingest_duration_seconds_bucket", (("le", "60.0"), *complete))] == 0
    assert samples[("tenders_ingest_duration_seconds_bucket", (("le", "300.0"), *complete))] == 1
    assert samples[("tenders_ingest_oldest_queued_seconds", ())] >= 0


async def test_metrics_of_an_empty_database(client: httpx.AsyncClient) -> None:
    text = (await client.get("/metrics")).text
    assert 'tenders_ingest_jobs{status="queued"} 0.0' in text
    assert "tenders_ingest_oldest_queued_seconds 0.0" in text


@pytest.mark.slow
async def test_serve_runs_the_app_with_uvicorn(api_settings: Settings) -> None:
    port = closed_port()
    env = {
        **os.environ,
        "DATABASE_URL": api_settings.require_database_url(),
        "REDIS_URL": api_settings.require_redis_url(),
        "QUEUE_NAME": api_settings.queue_name,
    }
    code = f"from src.cli.serve_api import serve; serve('127.0.0.1', {port})"
    server = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def answers() -> httpx.Response | None:
                try:
                    return await client.get("/healthz")
                except httpx.TransportError:
                    return None

            health = await until(answers, 10, "the server to answer /healthz")
            assert health is not None
            assert health.status_code == 200, health.text
            assert (await client.get("/tenders")).json() == {"items": [], "next_cursor": None}
    finally:
        server.terminate()
        output, _ = await asyncio.to_thread(server.communicate, timeout=30)
    assert "Application shutdown complete" in output, output
    assert server.returncode in (0, -15), output
