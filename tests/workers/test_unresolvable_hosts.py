"""A host name that does not exist (NXDOMAIN) fails its run at once, naming the host: no
retry can fix a typo. Connection refused, timeouts and 5xx stay transient. No real DNS: the
fake resolver answers, and the operator's client gets a transport that fails as DNS would."""

from __future__ import annotations

import dataclasses
import socket
import uuid
from typing import Any

import httpx
import pytest
from arq import Retry
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import IngestRun
from src.infra.errors import is_transient
from src.infra.source_policy import SourceNotAllowed
from src.infra.sources import SourceError
from tests.support.jobs import fetching, ingest_source, with_settings
from tests.support.paths import FIXTURES
from workers.context import WorkerDeps


def failing_dns(code: int) -> httpx.MockTransport:
    """What httpx raises when the resolver answers `code` (the gaierror is the cause)."""

    def handler(request: httpx.Request) -> httpx.Response:
        try:
            raise socket.gaierror(code, "resolver says no")
        except socket.gaierror as error:
            raise httpx.ConnectError(str(error), request=request) from error

    return httpx.MockTransport(handler)


async def failed_run(session: AsyncSession, run_id: uuid.UUID) -> IngestRun:
    run = await session.get(IngestRun, run_id)
    assert run is not None
    await session.refresh(run)
    return run


async def test_an_operator_url_whose_host_does_not_exist_fails_at_once(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    deps: WorkerDeps = ctx["deps"]
    client = httpx.AsyncClient(transport=failing_dns(socket.EAI_NONAME))
    ctx["deps"] = dataclasses.replace(deps, http=client)
    run_id = uuid.uuid4()
    try:
        with pytest.raises(SourceError, match=r"typo\.example\.invalid cannot be resolved"):
            await ingest_source(ctx, "https://typo.example.invalid/x.json", run_id=str(run_id))
    finally:
        await client.aclose()
    run = await failed_run(db_session, run_id)
    assert run.status == "failed" and run.attempts == 1
    assert run.error is not None and "typo.example.invalid" in run.error and "NXDOMAIN" in run.error


async def test_a_resolver_that_cannot_answer_now_is_retried(ctx: dict[str, Any]) -> None:
    deps: WorkerDeps = ctx["deps"]
    client = httpx.AsyncClient(transport=failing_dns(socket.EAI_AGAIN))
    ctx["deps"] = dataclasses.replace(deps, http=client)
    try:
        with pytest.raises(Retry):
            await ingest_source(ctx, "https://feeds.example.org/x.json")
    finally:
        await client.aclose()


async def test_a_restricted_source_whose_host_does_not_exist_fails_at_once(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    run_id = uuid.uuid4()
    async with fetching(ctx):
        with pytest.raises(SourceNotAllowed, match=r"nothing\.example\.org cannot be resolved"):
            await ingest_source(
                ctx, "https://nothing.example.org/feed.json", run_id=str(run_id), restricted=True
            )
    run = await failed_run(db_session, run_id)
    assert run.status == "failed" and run.attempts == 1


def test_what_stays_transient() -> None:
    request = httpx.Request("GET", "https://feeds.example.org/x")
    refused = httpx.ConnectError("refused", request=request)
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert is_transient(refused)
    assert is_transient(httpx.ReadTimeout("slow", request=request))
    unavailable = httpx.Response(503, request=request)
    assert is_transient(httpx.HTTPStatusError("503", request=request, response=unavailable))
    no_name = httpx.ConnectError("no such name", request=request)
    no_name.__cause__ = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert not is_transient(no_name)


async def test_a_worker_without_allowed_source_dirs_names_the_setting(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    """An API-submitted file that this worker's settings refuse: the run says which
    setting, not "use an http URL"."""
    with_settings(ctx, allowed_source_dirs=[])
    run_id = uuid.uuid4()
    source = str(FIXTURES / "eforms" / "cn_2lots_ita.xml")
    with pytest.raises(SourceNotAllowed):
        await ingest_source(ctx, source, run_id=str(run_id), restricted=True)
    run = await failed_run(db_session, run_id)
    assert run.error is not None and "ALLOWED_SOURCE_DIRS is not set" in run.error
    assert "http" not in run.error
