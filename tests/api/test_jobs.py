"""Enqueueing ingests over HTTP and following them, down to a real worker process."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from arq.connections import ArqRedis
from arq.jobs import Job
from prometheus_client.parser import text_string_to_metric_families

from configs.config import Settings
from src.api.deps import get_queue
from src.api.schemas import IngestJobRequest
from src.infra.queue import create_queue_pool, deserialize
from src.readers.registry import FORMATS
from tests.support.api import build_app, clear_queue, running
from tests.support.paths import FIXTURES, ROOT

SAMPLE = FIXTURES / "ocds" / "anac_two_procedures.json"


async def test_a_source_is_queued_and_followed(
    client: httpx.AsyncClient, sources_dir: Path
) -> None:
    source = sources_dir / "releases.json"
    source.write_text("[]")
    response = await client.post("/ingest-jobs", json={"source": str(source)})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["created"] is True
    assert accepted["format"] is None, "detected by the worker"
    assert accepted["source"] == str(source.resolve())
    assert response.headers["location"] == f"/ingest-jobs/{accepted['id']}"

    job = (await client.get(f"/ingest-jobs/{accepted['id']}")).json()
    assert job["status"] == "queued"
    assert job["counts"] == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "warnings": 0,
    }
    assert job["job_id"] == accepted["job_id"]
    assert job["error"] is None and job["finished_at"] is None
    assert job["progress"] == {
        "bytes_read": 0,
        "bytes_total": None,
        "records": 0,
        "rate_per_second": None,
        "eta_seconds": None,
        "updated_at": None,
    }

    again = await client.post("/ingest-jobs", json={"source": str(source)})
    assert again.status_code == 202
    assert again.json()["created"] is False
    assert again.json()["id"] == accepted["id"], "the run in progress is named"


async def test_a_public_url_with_a_format_and_an_encoding(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/ingest-jobs",
        json={
            "source": "HTTPS://feeds.example.org/cig.csv",
            "format": "anac_csv",
            "encoding": "CP1252",
        },
    )
    assert response.status_code == 202, response.text
    assert response.json()["source"] == "https://feeds.example.org/cig.csv"
    job = (await client.get(response.headers["location"])).json()
    assert job["format"] == "anac_csv"


async def test_a_quiet_ingest_is_queued_as_one(
    client: httpx.AsyncClient, sources_dir: Path, api_settings: Settings
) -> None:
    pool = await create_queue_pool(api_settings)
    try:
        for name, body in (("quiet.json", {"quiet": True}), ("loud.json", {})):
            source = sources_dir / name
            source.write_text("[]")
            accepted = await client.post("/ingest-jobs", json={"source": str(source), **body})
            assert accepted.status_code == 202, accepted.text
            job = (await client.get(accepted.headers["location"])).json()
            info = await Job(accepted.json()["job_id"], pool, _deserializer=deserialize).info()
            assert info is not None
            assert job["quiet"] is info.kwargs["quiet"] is (name == "quiet.json"), name
    finally:
        await pool.aclose()


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ("file:///etc/passwd", "file:// URLs are not accepted"),
        ("ftp://feeds.example.org/x", "http:// or https://"),
        ("http://localhost:8000/x", "loopback"),
        ("http://intranet.example.org/x", "private"),
        ("/etc/passwd", "outside the allowed directories"),
        (f"{FIXTURES}/../../pyproject.toml", "outside the allowed directories"),
        (f"{FIXTURES}/missing.json", "no such file"),
        (f"{FIXTURES}/eforms", "is a directory, not a file"),
        ("https://nothing.example.org/x", "cannot be resolved: no such name (NXDOMAIN)"),
    ],
)
async def test_refused_sources_are_422_with_the_reason(
    client: httpx.AsyncClient, source: str, hint: str
) -> None:
    response = await client.post("/ingest-jobs", json={"source": source})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "source"]
    assert hint in error["msg"]


async def test_request_validation(client: httpx.AsyncClient) -> None:
    async def error(body: object) -> dict[str, object]:
        response = await client.post("/ingest-jobs", json=body)
        assert response.status_code == 422, response.text
        detail: dict[str, object] = response.json()["detail"][0]
        return detail

    assert "'ocds'" in str((await error({"source": str(SAMPLE), "format": "xml"}))["msg"])
    assert (await error({"source": str(SAMPLE), "fromat": "ocds"}))["loc"] == ["body", "fromat"]
    for encoding in ("klingon", "rot13", "a\x00"):
        refused = await error({"source": str(SAMPLE), "encoding": encoding})
        assert "unknown encoding" in str(refused["msg"]), refused
    assert (await error({}))["loc"] == ["body", "source"]


async def test_unknown_and_malformed_job_ids(client: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    response = await client.get(f"/ingest-jobs/{missing}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"no ingest job has id {missing}"}
    assert (await client.get("/ingest-jobs/42")).status_code == 422


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def dead_redis() -> AsyncIterator[ArqRedis]:
    pool = ArqRedis(host="127.0.0.1", port=closed_port(), socket_connect_timeout=1)
    yield pool
    await pool.aclose()


async def test_redis_down_is_503_not_500(api_settings: Settings, dead_redis: ArqRedis) -> None:
    app = build_app(api_settings)
    app.dependency_overrides[get_queue] = lambda: dead_redis
    async with running(app) as client:
        response = await client.post("/ingest-jobs", json={"source": str(SAMPLE)})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert "retry" in response.json()["detail"]
        health = await client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["redis"].startswith("unavailable (")
        assert health.json()["postgres"] == "ok"


@pytest.mark.slow
async def test_a_job_enqueued_over_http_is_run_by_a_real_worker(
    client: httpx.AsyncClient, api_settings: Settings
) -> None:
    accepted = await client.post("/ingest-jobs", json={"source": str(SAMPLE)})
    assert accepted.status_code == 202, accepted.text
    env = {
        **os.environ,
        "DATABASE_URL": api_settings.require_database_url(),
        "REDIS_URL": api_settings.require_redis_url(),
        "QUEUE_NAME": api_settings.queue_name,
        "WORKER_POLL_DELAY": "0.05",
        # The worker checks an API-named source again when it fetches it, and lets it write
        # ANAC's namespace only because the operator trusts the fixtures.
        "ALLOWED_SOURCE_DIRS": orjson.dumps(
            [str(d) for d in api_settings.allowed_source_dirs]
        ).decode(),
        "TRUSTED_SOURCES": orjson.dumps([str(FIXTURES)]).decode(),
    }
    worker = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "src.cli", "worker", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr

    job = (await client.get(accepted.headers["location"])).json()
    assert job["status"] == "complete", job
    assert job["counts"] == {
        "inserted": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
        "warnings": 0,
    }
    assert job["attempts"] == 1 and job["duration_seconds"] is not None
    progress = job["progress"]
    size = SAMPLE.stat().st_size
    assert (progress["bytes_read"], progress["bytes_total"]) == (size, size), progress
    assert progress["records"] == 4 and progress["eta_seconds"] is None
    assert progress["updated_at"] is not None
    tenders = (await client.get("/tenders", params={"source": "anac"})).json()["items"]
    assert len(tenders) == 3

    metrics = (await client.get("/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
    }
    assert samples[("tenders_ingest_jobs", (("status", "complete"),))] == 1
    assert samples[("tenders_ingest_rows_total", (("outcome", "inserted"),))] == 3
    assert samples[("tenders_ingest_rejections_total", ())] == 1
    assert samples[("tenders_ingest_duration_seconds_count", (("status", "complete"),))] == 1
    await clear_queue(api_settings)


def test_the_api_knows_every_reader_format() -> None:
    schema = IngestJobRequest.model_json_schema()
    assert set(schema["$defs"]["Format"]["enum"]) == set(FORMATS)
