"""What a run may write: never a version from the future (it would replace the real tender
and pin it), and, from a source named through the API or as a feed, only the namespace of
the publisher that publishes there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import Rejection
from src.domain.tender.entities import OcdsRelease, Tender
from tests.support.http_server import Publisher, Route, serve
from tests.support.jobs import fetching, ingest_source
from tests.support.network import LoopbackNetwork, ScriptedResolver
from tests.support.paths import FIXTURES

PUBLIC, MIRROR = "93.184.215.14", "93.184.215.15"
RESOLVER = {"dati.anticorruzione.it": [[PUBLIC]], "mirror.example.net": [[MIRROR]]}
CIG = "9876543A0B"
GENUINE, LATER, FAR_FUTURE = "2025-02-01T10:00:00Z", "2025-03-01T10:00:00Z", "9999-12-31T00:00:00Z"


def anac(date: str, description: str, *, tag: str = "compiled") -> dict[str, Any]:
    """An ANAC release of one lot, CIG `CIG`."""
    return {
        "ocid": "ocds-hu01ve-9000001",
        "id": f"ocds-hu01ve-9000001-{date}",
        "date": date,
        "tag": [tag],
        "buyer": {"id": "80015010723", "name": "COMUNE DI PROVA"},
        "tender": {
            "id": "9000001",
            "description": description,
            "lots": [{"id": CIG, "description": description, "status": "active"}],
        },
    }


def feed(date: str, title: str, prefix: str = "ocds-feed01") -> dict[str, Any]:
    return {
        "ocid": f"{prefix}-P1",
        "id": f"P1-{date}",
        "date": date,
        "tag": ["tender"],
        "tender": {"id": "P1", "title": title, "status": "active"},
    }


def package(*releases: dict[str, Any]) -> bytes:
    return orjson.dumps({"uri": "https://example.invalid/p", "releases": list(releases)})


def write(folder: Path, name: str, *releases: dict[str, Any]) -> str:
    path = folder / name
    path.write_bytes(package(*releases))
    return str(path)


async def description_of(session: AsyncSession) -> str | None:
    return await session.scalar(select(Tender.description).where(Tender.cig == CIG))


async def reasons(session: AsyncSession) -> list[str]:
    return list((await session.scalars(select(Rejection.reason))).all())


async def test_a_version_from_the_future_never_pins_a_tender(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    """Even the operator's own run: a date of 9999 would win every later comparison."""
    first = await ingest_source(ctx, write(tmp_path, "a.json", anac(GENUINE, "VERO")))
    forged = await ingest_source(ctx, write(tmp_path, "b.json", anac(FAR_FUTURE, "FALSO")))
    update = await ingest_source(ctx, write(tmp_path, "c.json", anac(LATER, "VERO AGGIORNATO")))
    assert (first["inserted"], forged["rejected"], forged["updated"]) == (1, 1, 0)
    assert update["updated"] == 1, "the genuine update still applies"
    assert await description_of(db_session) == "VERO AGGIORNATO"
    assert any(
        "FUTURE_DATE_TOLERANCE" in r and f"anac:{CIG}" in r for r in await reasons(db_session)
    )


async def test_a_release_from_the_future_is_not_stored(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    """A release is merged with every later one of its ocid: a forged date would make its
    values win forever, so it is refused before it is stored."""
    await ingest_source(ctx, write(tmp_path, "a.json", feed(GENUINE, "Road repair")))
    forged = await ingest_source(ctx, write(tmp_path, "b.json", feed(FAR_FUTURE, "Forged")))
    await ingest_source(ctx, write(tmp_path, "c.json", feed(LATER, "Road repair, phase 2")))
    assert forged["rejected"] == 1
    stored = await db_session.scalar(select(func.count()).select_from(OcdsRelease))
    assert stored == 2
    title = await db_session.scalar(select(Tender.title).where(Tender.source == "ocds:ocds-feed01"))
    assert title == "Road repair, phase 2"


async def read_as(
    ctx: dict[str, Any], publisher: Publisher, host: str, path: str, **settings: Any
) -> dict[str, Any]:
    """A restricted run (as the API queues it) of `path` on the local server named `host`."""
    port = publisher.base_url.rsplit(":", 1)[1]
    network = LoopbackNetwork(routes=[PUBLIC, MIRROR])
    async with fetching(ctx, resolve=ScriptedResolver(RESOLVER), network=network, **settings):
        return await ingest_source(ctx, f"http://{host}:{port}{path}", restricted=True)


async def test_anac_is_written_only_from_anac_hosts(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    await ingest_source(ctx, write(tmp_path, "a.json", anac(GENUINE, "VERO")))
    routes = {"/anac.json": Route(package(anac(LATER, "FALSO")))}
    with serve(routes) as publisher:
        forged = await read_as(ctx, publisher, "feeds.example.org", "/anac.json")
        assert (forged["rejected"], forged["updated"]) == (1, 0)
        assert await description_of(db_session) == "VERO"
        genuine = await read_as(ctx, publisher, "dati.anticorruzione.it", "/anac.json")
    assert genuine["updated"] == 1
    assert any(
        "namespace anac may not be written from feeds.example.org" in reason
        and "TRUSTED_SOURCES" in reason
        for reason in await reasons(db_session)
    )


async def test_anac_releases_from_elsewhere_are_not_stored(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    routes = {"/anac.json": Route(package(anac(LATER, "FALSO", tag="tender")))}
    with serve(routes) as publisher:
        forged = await read_as(ctx, publisher, "feeds.example.org", "/anac.json")
    assert forged["rejected"] == 1
    assert await db_session.scalar(select(func.count()).select_from(OcdsRelease)) == 0


async def test_ted_is_written_only_from_ted_hosts_or_a_trusted_source(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    notice = (FIXTURES / "eforms" / "cn_2lots_ita.xml").read_bytes()
    with serve({"/notice.xml": Route(notice)}) as publisher:
        refused = await read_as(ctx, publisher, "feeds.example.org", "/notice.xml")
        port = publisher.base_url.rsplit(":", 1)[1]
        trusted = f"http://feeds.example.org:{port}/"
        accepted = await read_as(
            ctx, publisher, "feeds.example.org", "/notice.xml", trusted_sources=[trusted]
        )
    assert (refused["rejected"], refused["inserted"]) == (2, 0)
    assert accepted["inserted"] == 2
    assert any("namespace ted may not be written" in r for r in await reasons(db_session))


async def test_an_ocds_prefix_belongs_to_the_place_that_wrote_it(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    routes = {
        "/a.json": Route(package(feed(GENUINE, "Road repair"))),
        "/b.json": Route(package(feed(LATER, "Forged"))),
        "/c.json": Route(package(feed(LATER, "Road repair, phase 2"))),
    }
    with serve(routes) as publisher:
        first = await read_as(ctx, publisher, "feeds.example.org", "/a.json")
        forged = await read_as(ctx, publisher, "mirror.example.net", "/b.json")
        again = await read_as(ctx, publisher, "feeds.example.org", "/c.json")
    assert (first["inserted"], forged["rejected"], again["updated"]) == (1, 1, 1)
    assert any(
        "namespace ocds:ocds-feed01 may not be written from mirror.example.net: its tenders "
        "came from feeds.example.org" in reason
        for reason in await reasons(db_session)
    )


async def test_files_the_api_names_write_a_publisher_only_when_trusted(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    source = write(tmp_path, "anac.json", anac(GENUINE, "VERO"))
    async with fetching(ctx, allowed_source_dirs=[tmp_path]):
        refused = await ingest_source(ctx, source, restricted=True)
    async with fetching(ctx, allowed_source_dirs=[tmp_path], trusted_sources=[str(tmp_path)]):
        accepted = await ingest_source(ctx, source, restricted=True)
    assert (refused["rejected"], refused["inserted"], accepted["inserted"]) == (1, 0, 1)
    assert any("may not be written from a local file" in r for r in await reasons(db_session))


@pytest.mark.parametrize("restricted", [False, True])
async def test_the_operator_writes_any_namespace(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path, restricted: bool
) -> None:
    """The command line is the operator; so is a restricted run of a source it trusts."""
    async with fetching(ctx, allowed_source_dirs=[tmp_path], trusted_sources=[f"{tmp_path}/"]):
        summary = await ingest_source(
            ctx, write(tmp_path, "a.json", anac(GENUINE, "VERO")), restricted=restricted
        )
    assert (summary["inserted"], summary["rejected"]) == (1, 0)
