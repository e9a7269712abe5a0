"""A re-ingest of JSON lines stored before reads no JSON: once a batch comes back mostly
unchanged, the reader hands lines on unread with their digest, and only lines no stored
publication was read from are parsed (in the write's transaction)."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import Rejection
from src.domain.tender.entities import Publication, Tender
from src.readers import UnmappedDocument, UnreadLine, ocds_walk
from src.readers.limits import ReadHints, ReadLimits
from src.readers.ocds import read_ocds
from tests.support import generators
from tests.support.db import run_row
from tests.support.jobs import ingest_source


def _lines(tenders: int, change: float = 0.0) -> list[bytes]:
    return list(generators.iter_lines(tenders=tenders, seed=7, change_fraction=change))


def test_a_hinted_reader_leaves_one_item_lines_unread_and_reads_them_alike() -> None:
    lines = _lines(30)
    package_line = json.dumps({"version": "1.1", "releases": [json.loads(lines[0])]}).encode()
    data = b"".join([*lines, package_line + b"\n", b"{broken\n"])
    plain = list(read_ocds(io.BytesIO(data), source_url="s"))
    hinted = list(
        read_ocds(
            io.BytesIO(data), source_url="s", limits=ReadLimits(hints=ReadHints(lines_unread=True))
        )
    )
    assert len(hinted) == len(plain), "one item per line either way: checkpoints agree"
    # The first line is always read (it tells whether the source is OCDS at all); a package
    # line, which may hold several items, too.
    assert not isinstance(hinted[0], UnreadLine)
    assert not isinstance(hinted[len(lines)], UnreadLine)
    unread = [item for item in hinted if isinstance(item, UnreadLine)]
    assert len(unread) == len(lines)  # lines 2.., and the broken one
    for item, expected in zip(hinted, plain, strict=True):
        if not isinstance(item, UnreadLine):
            continue
        [read] = item.read()
        assert type(read) is type(expected)
        assert read.position == item.position == expected.position
        if isinstance(expected, UnmappedDocument):
            assert isinstance(read, UnmappedDocument)
            assert read.digest == expected.digest and read.digest.digest == item.digest
            assert read.data == expected.data


async def test_an_unchanged_reingest_parses_only_its_first_batch(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "compiled.jsonl"
    source.write_bytes(b"".join(_lines(400)))  # about 260 lines: batches of 50 (test settings)
    lines = source.read_bytes().count(b"\n")
    first = await ingest_source(ctx, str(source))
    assert first["inserted"] == 400

    parsed: list[str] = []
    real = ocds_walk.line_objects

    def counting(line: bytes, position: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(position)
        return real(line, position, *args, **kwargs)

    monkeypatch.setattr(ocds_walk, "line_objects", counting)
    monkeypatch.setattr("src.readers.ocds.line_objects", counting)
    again = await ingest_source(ctx, str(source))
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 400)
    # The first batch is read whole (nothing known about the source yet); the next ones'
    # lines go by digest.
    assert len(parsed) <= 2 * 50 < lines


async def test_lines_changed_since_are_read_and_written_among_unread_ones(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    source = tmp_path / "compiled.jsonl"
    source.write_bytes(b"".join(_lines(400)))
    await ingest_source(ctx, str(source))
    changed = _lines(400, change=0.2)
    broken = len(changed) - 3
    lost = len(json.loads(changed[broken])["tender"]["lots"])  # its tenders are not read
    changed[broken] = b'{"ocid": "ocds-hu01ve-broken", "tender": \n'
    source.write_bytes(b"".join(changed))
    outcome = await ingest_source(ctx, str(source))
    assert outcome["updated"] > 40
    assert outcome["inserted"] == 0
    assert outcome["rejected"] == 1
    run = await run_row(db_session, outcome["run_id"])
    total = run.inserted + run.updated + run.unchanged + run.rejected
    assert total == 400 - lost + 1, "counts add up: every tender read, and the broken line"
    reasons = (await db_session.scalars(select(Rejection.reason))).all()
    assert any("line" in reason and "not valid JSON" in reason for reason in reasons)
    assert await db_session.scalar(select(func.count()).select_from(Tender)) == 400


def _written_like_a_person(index: int, description: str) -> bytes:
    """A compiled release as people write JSON: spaces, escapes, numbers in exponent form and
    past 64 bits, keys out of order; one JSON line."""
    return (
        '{ "tag" : ["compiled"], "date":"2025-03-01T10:00:00Z", '
        f'"ocid": "ocds-zzzzzz-{index}", "id": "r{index}",  '
        '"tender": {"title": "Gara \\u00e8 \\ud83d\\ude00 \\"quoted\\"", '
        f'"description": {json.dumps(description)}, '
        '"value": {"amount": 1.5E3, "currency": "EUR"}, "lots": [{"id": "1"}], '
        '"big": 123456789012345678901234567890}}\n'
    ).encode()


async def test_a_json_line_is_stored_as_the_document_it_parses_to(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    """A line is stored as its own text (not written out again from the parsed object) unless
    it holds an escaped NUL: either way the publication is the document the line parses to
    (without NUL), and re-reading it gives the same tenders."""
    source = tmp_path / "written.jsonl"
    source.write_bytes(
        _written_like_a_person(1, "lavori\tstradali")
        + _written_like_a_person(2, "con un NUL \x00 dentro")
    )
    outcome = await ingest_source(ctx, str(source))
    assert (outcome["inserted"], outcome["rejected"]) == (2, 0)
    stored: dict[str, Any] = dict(
        (await db_session.execute(select(Publication.document_key, Publication.raw))).all()
    )
    for index, line in enumerate(source.read_bytes().splitlines(), 1):
        expected = json.loads(line.replace(b"\\u0000", b""))
        got = stored[f"ocds-zzzzzz-{index}"]
        # Read back (orjson) as a float, as it was read from the line.
        assert got["tender"].pop("big") == float(expected["tender"].pop("big"))
        assert got == expected
    amounts = (await db_session.scalars(select(Tender.amount).order_by(Tender.cig))).all()
    assert amounts == [Decimal(1500), Decimal(1500)]


def test_a_line_travels_with_its_text_unless_it_holds_an_escaped_nul() -> None:
    clean, nul = _written_like_a_person(1, "a"), _written_like_a_person(2, "b\x00")
    items = list(read_ocds(io.BytesIO(clean + nul), source_url="s"))
    documents = [item for item in items if isinstance(item, UnmappedDocument)]
    assert len(documents) == len(items) == 2
    assert [item.data_json for item in documents] == [clean.strip().decode(), None]
