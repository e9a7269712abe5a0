"""OCDS pages over HTTP: `links.next` is followed as an http(s) URL relative to its page, and
for a restricted run (API, feeds) only where the source policy lets the first URL go; a
restricted run's error never quotes what it fetched."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import IngestRun
from src.domain.tender.entities import Tender
from src.infra.source_policy import SourceNotAllowed
from src.ingest.pipeline import UnreadableSourceError
from tests.support.http_server import Publisher, Route, serve
from tests.support.jobs import fetching, ingest_source
from tests.support.network import LoopbackNetwork

PUBLIC = "93.184.215.14"  # feeds.example.org in the fake DNS


def package(prefix: str, *procedures: str, next_link: str | None = None) -> bytes:
    """An OCDS release package of one release per procedure, linking to `next_link`."""
    releases = [
        {
            "ocid": f"{prefix}-{procedure}",
            "id": f"{procedure}-1",
            "date": "2025-01-01T00:00:00Z",
            "tag": ["tender"],
            "tender": {"id": procedure, "title": f"Tender {procedure}", "status": "active"},
        }
        for procedure in procedures
    ]
    document: dict[str, Any] = {"uri": "https://feeds.example.org/p", "releases": releases}
    if next_link is not None:
        document["links"] = {"next": next_link}
    return orjson.dumps(document)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A readable OCDS file outside every allowed directory."""
    outside = tmp_path / "outside"
    outside.mkdir()
    path = outside / "secret.json"
    path.write_bytes(package("ocds-secret", "S1"))
    return path


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    folder = tmp_path / "allowed"
    folder.mkdir()
    return folder


async def titles(session: AsyncSession) -> list[str]:
    return sorted((await session.scalars(select(Tender.title))).all())


async def run_error(session: AsyncSession, run_id: str) -> str:
    run = await session.get(IngestRun, uuid.UUID(run_id))
    assert run is not None and run.status == "failed", run
    return run.error or ""


async def read_feed(
    ctx: dict[str, Any],
    publisher: Publisher,
    allowed: Path,
    *,
    restricted: bool = True,
    run_id: str | None = None,
) -> None:
    """Ingest the publisher's first page, as the public `feeds.example.org` when restricted."""
    port = publisher.base_url.rsplit(":", 1)[1]
    base = f"http://feeds.example.org:{port}" if restricted else publisher.base_url
    network = LoopbackNetwork(routes=[PUBLIC])
    async with fetching(ctx, network=network, allowed_source_dirs=[allowed]):
        await ingest_source(ctx, f"{base}/page1.json", run_id=run_id, restricted=restricted)


@pytest.mark.parametrize("restricted", [True, False])
async def test_a_file_url_in_links_next_is_not_followed(
    ctx: dict[str, Any],
    db_session: AsyncSession,
    secret: Path,
    allowed: Path,
    restricted: bool,
) -> None:
    routes = {"/page1.json": Route(package("ocds-feed01", "P1", next_link=secret.as_uri()))}
    refused = pytest.raises(SourceNotAllowed, match=r"page 1's links\.next is a file: link")
    with serve(routes) as publisher, refused:
        await read_feed(ctx, publisher, allowed, restricted=restricted)
    assert await titles(db_session) == ["Tender P1"], "page 1 is kept, the file never read"


async def test_a_path_in_links_next_is_a_path_on_the_page_host(
    ctx: dict[str, Any], db_session: AsyncSession, secret: Path, allowed: Path
) -> None:
    routes = {"/page1.json": Route(package("ocds-feed01", "P1", next_link=str(secret)))}
    with serve(routes) as publisher:
        with pytest.raises(httpx.HTTPStatusError, match="404"):
            await read_feed(ctx, publisher, allowed)
        requested = [path for path, _ in publisher.requests]
    assert requested == ["/page1.json", str(secret)], "asked of the page's host, not opened"
    assert await titles(db_session) == ["Tender P1"]


async def test_etc_passwd_in_links_next_leaks_nothing(
    ctx: dict[str, Any], db_session: AsyncSession, allowed: Path
) -> None:
    routes = {"/page1.json": Route(package("ocds-feed01", "P1", next_link="file:///etc/passwd"))}
    run_id = str(uuid.uuid4())
    with serve(routes) as publisher, pytest.raises(SourceNotAllowed):
        await read_feed(ctx, publisher, allowed, run_id=run_id)
    error = await run_error(db_session, run_id)
    assert "links.next" in error and "root:" not in error, error


@pytest.mark.parametrize(
    ("host", "kind"), [("intranet.example.org", "private"), ("localhost", "loopback")]
)
async def test_links_next_is_checked_like_the_first_url(
    ctx: dict[str, Any], db_session: AsyncSession, allowed: Path, host: str, kind: str
) -> None:
    routes = {
        "/page1.json": Route(b""),
        "/page2.json": Route(package("ocds-feed01", "P2")),
    }
    with serve(routes) as publisher:
        port = publisher.base_url.rsplit(":", 1)[1]
        next_link = f"http://{host}:{port}/page2.json"
        publisher.routes["/page1.json"] = Route(package("ocds-feed01", "P1", next_link=next_link))
        with pytest.raises(SourceNotAllowed, match=f"links.next is not followed: .*a {kind}"):
            await read_feed(ctx, publisher, allowed)
        assert [path for path, _ in publisher.requests] == ["/page1.json"]
    assert await titles(db_session) == ["Tender P1"]


async def test_a_relative_next_link_is_followed_on_the_same_host(
    ctx: dict[str, Any], db_session: AsyncSession, allowed: Path
) -> None:
    routes = {
        "/page1.json": Route(package("ocds-feed01", "P1", next_link="page2.json")),
        "/page2.json": Route(package("ocds-feed01", "P2")),
    }
    with serve(routes) as publisher:
        await read_feed(ctx, publisher, allowed)
    assert await titles(db_session) == ["Tender P1", "Tender P2"]


async def test_a_restricted_run_never_quotes_the_source_in_its_error(
    ctx: dict[str, Any], db_session: AsyncSession, allowed: Path
) -> None:
    """What a restricted run read is not echoed back through its error (the API shows it);
    the operator's runs keep the details."""
    source = allowed / "passwd.json"
    source.write_text("root:x:0:0:MARKER-7f3a:/root:/bin/bash\n")
    run_id = str(uuid.uuid4())
    async with fetching(ctx, allowed_source_dirs=[allowed]):
        with pytest.raises(UnreadableSourceError):
            await ingest_source(ctx, str(source), run_id=run_id, restricted=True)
    error = await run_error(db_session, run_id)
    assert "MARKER" not in error and "root:x" not in error, error
    assert "format" in error, "the message still says what to do"
    operator_run = str(uuid.uuid4())
    with pytest.raises(UnreadableSourceError):
        await ingest_source(ctx, str(source), run_id=operator_run)
    assert "MARKER" in await run_error(db_session, operator_run)
