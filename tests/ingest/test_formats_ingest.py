"""Every format through the real job: archives, merging across files, encodings, pagination,
change history and reprocessing, on the test's rolled-back transaction."""

from __future__ import annotations

import copy
import gzip
import json
import tarfile
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.domain.runs.entities import IngestRun, Rejection
from src.domain.tender.entities import OcdsRelease, Publication, Tender, TenderChange
from src.domain.tender.services.history import changes_since, find_tender
from src.ingest.pipeline import UnreadableSourceError
from src.ingest.reprocess import reprocess
from tests.support.http_server import Route, serve
from tests.support.jobs import ingest_source
from tests.support.paths import FIXTURES
from workers import jobs

EFORMS = FIXTURES / "eforms"
ANAC = FIXTURES / "anac"


async def count(session: AsyncSession, entity: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(entity)) or 0)


def release(ocid: str, release_id: str, date: str, tender: dict[str, Any]) -> dict[str, Any]:
    return {"ocid": ocid, "id": release_id, "date": date, "tag": ["tender"], "tender": tender}


def package(*releases: dict[str, Any], next_url: str | None = None) -> bytes:
    document: dict[str, Any] = {
        "uri": "https://example.invalid/p",
        "version": "1.1",
        "publishedDate": "2025-01-01T00:00:00Z",
        "releases": releases,
    }
    if next_url:
        document["links"] = {"next": next_url}
    return json.dumps(document, ensure_ascii=False).encode()


async def test_releases_in_later_files_merge_with_earlier_ones(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    first = tmp_path / "first.json"
    first.write_bytes(
        package(
            release(
                "ocds-abc123-P1",
                "r1",
                "2025-01-01T00:00:00Z",
                {"id": "P1", "title": "Road repair", "status": "active"},
            )
        )
    )
    second = tmp_path / "second.json"
    second.write_bytes(
        package(
            release(
                "ocds-abc123-P1",
                "r2",
                "2025-02-01T00:00:00Z",
                {
                    "id": "P1",
                    "value": {"amount": 900, "currency": "EUR"},
                    "tenderPeriod": {"endDate": "2025-03-01T12:00:00Z"},
                },
            )
        )
    )
    assert (await ingest_source(ctx, str(first)))["inserted"] == 1
    assert (await ingest_source(ctx, str(second)))["updated"] == 1
    tender = await find_tender(db_session, "ocds:ocds-abc123:ocds-abc123-P1:")
    assert tender is not None
    assert (tender.title, tender.status, str(tender.amount)) == ("Road repair", "active", "900.00")
    assert await count(db_session, OcdsRelease) == 2
    again = await ingest_source(ctx, str(second))
    assert (again["updated"], again["unchanged"]) == (0, 1)
    assert await count(db_session, OcdsRelease) == 2, "a release seen again is stored once"
    fields = set((await db_session.scalars(select(TenderChange.field))).all())
    assert fields == {"amount", "deadline_at"}


async def test_cdmx_golden_merge_across_two_files(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path, shared_data: Path
) -> None:
    source = json.loads((shared_data / "ocds" / "mx_cdmx_release_package_1ocid.json").read_text())
    expected = json.loads(
        (shared_data / "ocds" / "mx_cdmx_compiled_release_1ocid.expected.json").read_text()
    )
    for index, item in enumerate(source["releases"]):
        part = copy.deepcopy(source)
        part["releases"] = [item]
        (tmp_path / f"part{index}.json").write_text(json.dumps(part))
    await ingest_source(ctx, str(tmp_path / "part1.json"))  # the later release arrives first
    await ingest_source(ctx, str(tmp_path / "part0.json"))
    stored = await db_session.scalar(select(Publication.raw))
    assert stored == expected


async def test_zip_of_anac_files_and_tar_gz_of_notices(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    archive = tmp_path / "anac-2024-03.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(ANAC / "cig_bulk_sample.csv", "cig/cig_bulk_sample.csv")
        bundle.write(ANAC / "cig_detail_sample.json", "dettaglio.json")
    summary = await ingest_source(ctx, str(archive))
    assert summary["status"] == "complete" and summary["inserted"] > 0
    positions = (await db_session.scalars(select(Rejection.position))).all()
    assert positions and all(
        (p or "").startswith("anac-2024-03.zip!cig/cig_bulk_sample.csv: line") for p in positions
    )
    daily = tmp_path / "ted-daily.tar.gz"
    with tarfile.open(daily, "w:gz") as bundle:
        bundle.add(EFORMS / "cn_2lots_ita.xml", "2024/cn.xml")
        bundle.add(EFORMS / "change-cn_2lots_ita.xml", "2024/change.xml")
    notices = await ingest_source(ctx, str(daily))
    assert notices["status"] == "complete"
    assert notices["inserted"] + notices["updated"] >= 2
    rows = (await db_session.scalars(select(Tender).where(Tender.source == "ted"))).all()
    assert len(rows) == 2


async def test_formats_are_detected_and_can_be_forced(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    assert (await ingest_source(ctx, str(ANAC / "cig_detail_sample.json")))["inserted"] == 3
    csv_run = await ingest_source(ctx, str(ANAC / "cig_bulk_sample.csv"), format="anac_csv")
    assert csv_run["status"] == "complete" and csv_run["rejected"] > 0
    xml = await ingest_source(ctx, str(EFORMS / "cn_2lots_ita.xml"))
    assert xml["inserted"] == 2
    # A payload naming an unknown format (no enqueuer of ours writes one) fails the job.
    with pytest.raises(ValueError, match="unknown format 'pdf'"):
        await jobs.ingest_source(ctx, location=str(EFORMS / "cn_2lots_ita.xml"), format="pdf")


async def test_non_utf8_is_a_clear_error_or_decoded_when_known(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    text = package(
        release(
            "ocds-abc123-P9",
            "r1",
            "2025-01-01T00:00:00Z",
            {"id": "P9", "title": "Fornitura di caffè"},
        )
    ).decode()
    latin = tmp_path / "latin.json"
    latin.write_bytes(text.encode("cp1252"))
    with pytest.raises(UnreadableSourceError, match="not UTF-8"):
        await ingest_source(ctx, str(latin), run_id="00000000-0000-0000-0000-000000000009")
    run = await db_session.get(IngestRun, uuid.UUID(int=9))
    assert run is not None and run.status == "failed" and "not UTF-8" in (run.error or "")
    decoded = await ingest_source(ctx, str(latin), encoding="cp1252")
    assert decoded["inserted"] == 1
    assert await db_session.scalar(select(Tender.title)) == "Fornitura di caffè"
    csv = await ingest_source(ctx, str(ANAC / "cig_bulk_cp1252.csv"), encoding="cp1252")
    assert csv["status"] == "complete" and csv["inserted"] > 0


async def test_links_next_pages_are_followed_to_the_end(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    routes: dict[str, Route] = {}
    with serve(routes) as publisher:
        base = publisher.base_url
        routes["/p1"] = Route(
            package(
                release(
                    "ocds-abc123-A", "a", "2025-01-01T00:00:00Z", {"id": "A", "title": "Page one"}
                ),
                next_url=f"{base}/p2",
            )
        )
        routes["/p2"] = Route(
            gzip.compress(
                package(
                    release(
                        "ocds-abc123-B", "b", "2025-01-01T00:00:00Z", {"id": "B", "title": "Two"}
                    ),
                    next_url=f"{base}/p1",
                )
            )
        )  # a loop back to the start ends the walk
        summary = await ingest_source(ctx, f"{base}/p1")
    assert summary["inserted"] == 2
    assert [path for path, _ in publisher.requests] == ["/p1", "/p2"]


async def test_change_notice_moves_the_deadline_and_history_feeds_it(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    await ingest_source(ctx, str(EFORMS / "cn_2lots_ita.xml"))
    moment = await db_session.scalar(select(func.clock_timestamp()))
    assert moment is not None
    change = await ingest_source(ctx, str(EFORMS / "change-cn_2lots_ita.xml"))
    assert change["updated"] >= 1
    feed = await changes_since(db_session, moment)
    moved = [c for c in feed if c["field"] == "deadline_at"]
    assert moved and moved[0]["identity_key"].endswith(":LOT-0002")
    assert moved[0]["old_value"] != moved[0]["new_value"]
    again = await ingest_source(ctx, str(EFORMS / "change-cn_2lots_ita.xml"))
    assert again["updated"] == 0
    assert len(await changes_since(db_session, moment)) == len(feed), "identical data adds nothing"


async def test_reprocess_applies_the_current_mapping_to_stored_publications(
    ctx: dict[str, Any],
    db_session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await ingest_source(ctx, str(FIXTURES / "ocds" / "anac_two_procedures.json"))
    await ingest_source(ctx, str(EFORMS / "cn_2lots_ita.xml"))
    # As if an older mapping had written a wrong title (same source date, other content).
    await db_session.execute(update(Tender).values(title="old mapping", content_hash="stale"))
    await db_session.flush()
    run_id = await reprocess(session_factory)
    run = await db_session.get(IngestRun, run_id)
    assert run is not None and run.status == "complete"
    assert (run.updated, run.inserted) == (5, 0)
    titles = (await db_session.scalars(select(Tender.title))).all()
    assert "old mapping" not in titles
    only_ted = await reprocess(session_factory, source="ted")
    ted_run = await db_session.get(IngestRun, only_ted)
    assert ted_run is not None and (ted_run.unchanged, ted_run.updated) == (2, 0)


async def test_record_whose_releases_are_only_linked_is_reported(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    record_package = {
        "version": "1.1",
        "records": [
            {
                "ocid": "ocds-abc123-L",
                "releases": [
                    {
                        "url": "https://example.invalid/r.json",
                        "date": "2025-01-01T00:00:00Z",
                        "tag": ["tender"],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "records.json"
    path.write_bytes(json.dumps(record_package).encode())
    summary = await ingest_source(ctx, str(path))
    assert (summary["status"], summary["rejected"]) == ("complete", 1)
    reason = await db_session.scalar(select(Rejection.reason))
    assert reason is not None and "linked by URL only" in reason


async def test_bare_records_are_read_once(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    """Two records without a package, each with its releases and a compiledRelease: the
    releases are merged, the compiled release is not mapped a second time."""
    records = json.loads((FIXTURES / "ocds" / "bare_records.json").read_bytes())
    for name, data in (
        ("records.json", json.dumps(records)),
        ("records.jsonl", "\n".join(json.dumps(record) for record in records) + "\n"),
    ):
        (tmp_path / name).write_text(data)
    first = await ingest_source(ctx, str(tmp_path / "records.json"))
    assert (first["inserted"], first["updated"], first["unchanged"]) == (2, 0, 0)
    assert await count(db_session, OcdsRelease) == 2
    again = await ingest_source(ctx, str(tmp_path / "records.jsonl"))
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 2)


async def test_unchanged_json_lines_are_skipped_unmapped_unless_the_mapping_changed(
    ctx: dict[str, Any],
    db_session: AsyncSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A compiled release whose bytes were stored before with the same mapping is not mapped
    again; a line that gave a rejection always is (its rejection is reported every run), and
    a change of the mapping code re-maps everything."""
    from src.readers import ocds

    def line(index: int, cig: str) -> str:
        return json.dumps(
            {
                "ocid": f"ocds-hu01ve-{index}",
                "id": f"r{index}",
                "date": "2025-01-01T00:00:00Z",
                "tag": ["compiled"],
                "tender": {
                    "id": str(index),
                    "description": f"Servizio {index}",
                    "lots": [{"id": cig}],
                },
            }
        )

    source = tmp_path / "anac.jsonl"
    source.write_text(
        "\n".join([line(1, "1111111AAA"), line(2, "BAD"), line(3, "3333333CCC")]) + "\n"
    )
    first = await ingest_source(ctx, str(source))
    assert (first["inserted"], first["rejected"]) == (2, 1)
    calls: list[str] = []
    real_map = ocds.map_release  # type: ignore[attr-defined]

    def counting_map(release: Any, **kwargs: Any) -> Any:
        calls.append(release["ocid"])
        return real_map(release, **kwargs)

    monkeypatch.setattr(ocds, "map_release", counting_map)
    second = await ingest_source(ctx, str(source))
    assert (second["unchanged"], second["rejected"]) == (2, 1)
    assert calls == ["ocds-hu01ve-2"], "only the line with a rejection was mapped again"
    monkeypatch.setattr(ocds, "_MAPPING_VERSION", "a corrected mapping")
    calls.clear()
    third = await ingest_source(ctx, str(source))
    assert (third["inserted"], third["updated"], third["unchanged"]) == (0, 0, 2)
    assert sorted(calls) == ["ocds-hu01ve-1", "ocds-hu01ve-2", "ocds-hu01ve-3"]
