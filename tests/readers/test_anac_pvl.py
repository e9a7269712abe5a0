"""ANAC "Pubblicità a Valore Legale" notices (`anac_pvl`): a hand-made fixture in PVL's shape
(a 2-lot call, its correction, an award, a contract modification, the call obscured, a direct
award, notices without a usable CIG) and the real capture in ../shared/data/anac."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from src.domain.formats import Format
from src.domain.tender.schemas import RejectedRecord, TenderRecord
from src.readers.anac_cig import read_cig_csv
from src.readers.anac_pvl import read_pvl
from src.readers.anac_values import pvl_timestamp
from src.readers.items import ReadItem
from src.readers.limits import ReadLimits
from src.readers.registry import detect_format, map_publication, read_source
from tests.support.paths import require_shared_data

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "anac"
ROME = ZoneInfo("Europe/Rome")
UTC = ZoneInfo("UTC")
# Columns a notice leaves unstated when it does not say them (the merge keeps earlier values).
STATED = ("description", "buyer_name", "buyer_id", "cpv", "procedure_type", "status", "amount",
          "currency", "published_at", "deadline_at", "award_amount", "award_currency",
          "awarded_at", "supplier_name", "supplier_id")  # fmt: skip


def fixture_bytes() -> bytes:
    return (FIXTURES / "pvl_notices.json").read_bytes()


def notices() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(fixture_bytes())["records"]
    return records


def read(data: bytes, **kwargs: Any) -> list[ReadItem]:
    return list(read_pvl(io.BytesIO(data), **kwargs))


def records_of(items: list[ReadItem]) -> dict[tuple[str, str], TenderRecord]:
    """(position up to the lot, CIG) -> record."""
    return {(r.position or "", r.cig or ""): r for r in items if isinstance(r, TenderRecord)}


def by_notice(items: list[ReadItem], notice: int) -> dict[str, TenderRecord]:
    prefix = f"notice {notice} "
    return {
        r.cig or "": r
        for r in items
        if isinstance(r, TenderRecord) and (r.position or "").startswith(prefix)
    }


@pytest.fixture(scope="module")
def items() -> list[ReadItem]:
    return read(fixture_bytes(), source_url="https://pvl.example.invalid/avvisi")


def test_detected_by_its_keys_in_each_shape() -> None:
    lines = "\n".join(json.dumps(n) for n in notices()).encode()
    for data in (fixture_bytes(), json.dumps(notices()).encode(), lines):
        assert detect_format(io.BytesIO(data)) == Format.ANAC_PVL
    wrapped = read(fixture_bytes())
    for data in (
        json.dumps(notices()).encode(),
        lines,
        json.dumps({"content": notices()}).encode(),
    ):
        same = read(data)
        assert [(i.position, type(i)) for i in same] == [(i.position, type(i)) for i in wrapped]


def test_one_tender_per_lot_keyed_by_cig(items: list[ReadItem]) -> None:
    call = by_notice(items, 1)
    assert list(call) == ["9100001A01", "9100002B02"]
    first = call["9100001A01"]
    assert (first.source, first.format, first.identity_key) == (
        "anac",
        "anac_pvl",
        "anac:9100001A01",
    )
    assert (first.procedure_id, first.lot_id) == ("proc-0001", "9100001A01")
    assert first.document_key == "aaaaaaaa-0000-0000-0000-000000000001"  # the notice (idAvviso)
    assert first.position == "notice 1 lot 1"
    assert first.title == "Lotto 1 - zona nord"
    assert first.description == "Servizi di manutenzione del verde pubblico"
    # joint procurement: every buyer named, the lead buyer's fiscal code
    assert first.buyer_name == "COMUNE DI ESEMPIO; COMUNE DI PROVA"
    assert first.buyer_id == "00000000001"
    assert first.cpv == "77313000-7"  # given as a code
    assert call["9100002B02"].cpv is None  # given as a label only: no invented code
    assert first.procedure_type == "aperta"
    assert (first.amount, first.currency) == (Decimal("120000"), "EUR")
    assert call["9100002B02"].amount == Decimal("80000.5")
    assert first.published_at == datetime(2026, 2, 1, 8, tzinfo=UTC)
    assert first.source_updated_at == first.published_at
    assert first.status == "active"
    assert first.source_url == "https://pvl.example.invalid/avvisi"
    assert first.raw is call["9100002B02"].raw  # the notice, shared by its lots
    assert first.raw is not None and first.raw["idAvviso"] == first.document_key


def test_the_same_cig_from_the_cig_csv_is_the_same_row(items: list[ReadItem]) -> None:
    csv = b"cig;oggetto_lotto\n9100001A01;Lotto 1 - zona nord\n"
    (from_csv,) = read_cig_csv(io.BytesIO(csv))
    assert isinstance(from_csv, TenderRecord)
    assert by_notice(items, 1)["9100001A01"].identity_key == from_csv.identity_key


def test_deadline_shapes(items: list[ReadItem]) -> None:
    call, correction = by_notice(items, 1), by_notice(items, 2)
    # an offset is kept
    assert call["9100001A01"].deadline_at == datetime(2026, 3, 10, 12, tzinfo=ROME)
    # T00:00:00Z is a date only: the end of that day in Rome
    assert call["9100002B02"].deadline_at == datetime(2026, 3, 10, 23, 59, 59, tzinfo=ROME)
    # T23:59:00Z is 23:59 in Rome, not 00:59 the next day
    assert correction["9100001A01"].deadline_at == datetime(2026, 3, 20, 23, 59, tzinfo=ROME)
    # a date with an offset and no time: the end of that day
    assert correction["9100002B02"].deadline_at == datetime(2026, 3, 21, 23, 59, 59, tzinfo=ROME)
    # a date alone (no offset): the end of that day in Rome
    assert by_notice(items, 8)["9100004D04"].deadline_at == datetime(
        2026, 6, 1, 23, 59, 59, tzinfo=ROME
    )


@pytest.mark.parametrize(
    ("text", "deadline", "published"),
    [
        ("2026-06-16T15:00:00Z", "2026-06-16T15:00:00+00:00", "2026-06-16T15:00:00+00:00"),
        ("2026-06-18T09:00:00+02:00", "2026-06-18T09:00:00+02:00", "2026-06-18T09:00:00+02:00"),
        ("2026-06-20T23:59:00Z", "2026-06-20T23:59:00+02:00", "2026-06-20T23:59:00+02:00"),
        ("2026-06-20T23:59:00.000+00:00", "2026-06-20T23:59:00+02:00", "2026-06-20T23:59:00+02:00"),
        ("2026-06-22T00:00:00Z", "2026-06-22T23:59:59+02:00", "2026-06-22T00:00:00+02:00"),
        ("2026-06-22T00:00:00.000+00:00", "2026-06-22T23:59:59+02:00", "2026-06-22T00:00:00+02:00"),
        ("2026-01-22+01:00", "2026-01-22T23:59:59+01:00", "2026-01-22T00:00:00+01:00"),
        ("2026-01-22", "2026-01-22T23:59:59+01:00", "2026-01-22T00:00:00+01:00"),
        ("2026-01-22T10:30:00", "2026-01-22T10:30:00+01:00", "2026-01-22T10:30:00+01:00"),
        ("2026-06-08T06:00:00.426+00:00", "2026-06-08T06:00:00.426000+00:00",
         "2026-06-08T06:00:00.426000+00:00"),
    ],
)  # fmt: skip
def test_each_pvl_date_shape(text: str, deadline: str, published: str) -> None:
    as_deadline = pvl_timestamp(text, end_of_day=True)
    as_published = pvl_timestamp(text)
    assert as_deadline is not None and as_published is not None
    assert as_deadline.isoformat() == deadline
    assert as_published.isoformat() == published


def test_correction_is_a_later_version(items: list[ReadItem]) -> None:
    call, correction = by_notice(items, 1), by_notice(items, 2)
    for cig in call:
        assert correction[cig].source_updated_at == datetime(2026, 2, 15, 9, 30, tzinfo=UTC)
        assert correction[cig].source_updated_at > call[cig].source_updated_at  # type: ignore[operator]
        assert correction[cig].document_key != call[cig].document_key  # stored beside it
        assert correction[cig].amount == call[cig].amount


def test_award_notice_states_the_award_and_nothing_it_does_not_say(
    items: list[ReadItem],
) -> None:
    award = by_notice(items, 3)["9100002B02"]
    assert award.status == "complete"
    assert (award.award_amount, award.award_currency) == (Decimal("71500"), "EUR")
    assert award.awarded_at == datetime(2026, 4, 10, tzinfo=ROME)  # a date only: its start
    assert award.supplier_name == "VERDE SERVIZI SRL; GIARDINI SPA"
    assert award.supplier_id == "00000000301; 00000000302"
    # no deadline, no estimate in an award notice: None, so the merge keeps the call's
    assert (award.deadline_at, award.amount, award.currency) == (None, None, None)


def test_modification_notice_without_deadline_or_amount(items: list[ReadItem]) -> None:
    modification = by_notice(items, 4)["9100001A01"]
    assert modification.status == "complete"  # the object is the awarded contract
    assert (modification.deadline_at, modification.amount, modification.cpv) == (None, None, None)
    assert modification.source_updated_at == datetime(2026, 9, 1, 6, tzinfo=UTC)


def test_obscured_notice_is_withdrawn_and_states_nothing_else(items: list[ReadItem]) -> None:
    obscured = by_notice(items, 5)
    assert list(obscured) == ["9100001A01", "9100002B02"]  # removes nothing: its lots, withdrawn
    for record in obscured.values():
        assert record.status == "withdrawn"
        stated = {name: getattr(record, name) for name in STATED if name != "status"}
        assert stated == dict.fromkeys(stated)
        assert record.title  # a record cannot be without one: the notice's own text
        assert record.source_updated_at is not None  # when it was withdrawn


def test_direct_award_with_a_bad_amount_keeps_the_tender(items: list[ReadItem]) -> None:
    direct = by_notice(items, 6)["B1234567AB"]
    assert direct.amount is None
    assert [(w.field, w.raw) for w in direct.warnings] == [("amount", "n.d.")]
    assert (direct.award_amount, direct.supplier_name) == (Decimal("3900"), "UFFICIO FORNITURE SRL")
    assert direct.status == "complete"
    assert direct.deadline_at == datetime(2026, 5, 20, 10, tzinfo=UTC)  # the notice's dataScadenza
    assert direct.description == "Affidamento diretto toner"


def test_notices_without_a_usable_cig_are_clear_rejections(items: list[ReadItem]) -> None:
    rejected = {r.position: r.reason for r in items if isinstance(r, RejectedRecord)}
    assert rejected == {
        "notice 7": "PVL notice aaaaaaaa-0000-0000-0000-000000000007 names no lot CIG (no cig in "
        "the items of its template sections 'SEZ. C')",
        "notice 8 lot 1": "PVL notice aaaaaaaa-0000-0000-0000-000000000008: invalid CIG '12345': "
        "expected 10 characters, 7 digits + 3 hex (standard), V-Z + 9 hex (SmartCIG) or A-U + "
        "9 hex",
    }
    kept = by_notice(items, 8)["9100004D04"]  # the other lot of that notice
    assert kept.title == "Pulizia uffici comunali"  # the notice's titolo
    assert kept.description == "Pulizia uffici\n\nServizi di manutenzione del verde pubblico"


def test_stored_notice_maps_the_same_again(items: list[ReadItem]) -> None:
    for number, notice in enumerate(notices(), 1):
        stored = json.loads(json.dumps(notice))
        again = map_publication("anac_pvl", stored, source_url="https://pvl.example.invalid/avvisi")
        first = [i for i in items if (i.position or "").split(" lot")[0] == f"notice {number}"]
        assert len(again) == len(first)
        for old, new in zip(first, again, strict=True):
            assert type(old) is type(new)
            if isinstance(old, TenderRecord) and isinstance(new, TenderRecord):
                assert new.hashed_fields() == old.hashed_fields()
                assert new.warnings == old.warnings


def test_limits_and_bad_items() -> None:
    deep = b'{"records": [' + b"[" * 100 + b"]" * 100 + b"]}"
    (too_deep,) = read(deep, limits=ReadLimits(max_json_depth=10))
    assert isinstance(too_deep, RejectedRecord) and "MAX_JSON_DEPTH" in too_deep.reason
    items = read(b'[1, {"records": [2]}]')
    assert [(i.position, i.reason) for i in items if isinstance(i, RejectedRecord)] == [
        ("item 1", "item is neither a PVL notice nor a list of notices (records, content)"),
        ("notice 1", "PVL notice is not a JSON object"),
    ]


def test_json_lines_a_broken_line_costs_only_itself() -> None:
    """Notices as JSON Lines: a line that is not JSON is a rejection with its line, and the
    notices of the lines after it are read."""
    lines = [orjson.dumps(notice) for notice in notices()]
    data = b"\n".join([lines[0], b'{"idAvviso": "x", "template": [', *lines[1:]]) + b"\n"
    broken = [i for i in read(data) if isinstance(i, RejectedRecord) and i.position == "line 2"]
    assert len(broken) == 1 and "is not valid JSON" in broken[0].reason
    whole = b"\n".join(lines) + b"\n"
    assert records_of(read(data)).keys() == records_of(read(whole)).keys()
    assert len(records_of(read(whole))) > 1


def test_read_through_the_registry_by_detection() -> None:
    stream = io.BytesIO(fixture_bytes())
    items = [i for i in read_source(stream, "pvl.json") if isinstance(i, ReadItem)]
    assert len(records_of(items)) == 10  # 11 lots with a CIG, one of them invalid
    assert sum(isinstance(i, RejectedRecord) for i in items) == 2


def test_real_capture() -> None:
    path = require_shared_data("anac", "anac_pvl_notices_sample.json")
    assert detect_format(io.BytesIO(path.read_bytes())) == Format.ANAC_PVL
    items = read(path.read_bytes())
    records = [i for i in items if isinstance(i, TenderRecord)]
    assert [i for i in items if isinstance(i, RejectedRecord)] == []
    assert len(records) == 14  # 11 notices, one of 4 lots; every lot read
    assert Counter(r.status for r in records) == {"active": 12, "complete": 1, "withdrawn": 1}
    assert all(r.title and r.source_updated_at and r.document_key for r in records)
    assert all(r.cpv is None for r in records)  # labels only in this capture
    live = [r for r in records if r.status == "active"]
    assert all(r.buyer_id and r.amount and r.deadline_at and r.published_at for r in live)
    by_cig = {(r.cig, r.status): r for r in records}
    # T23:59:00Z: 23:59 in Rome; T00:00:00Z: a date only, the end of that day
    assert by_cig["BBEEE67D72", "active"].deadline_at == datetime(2026, 6, 20, 23, 59, tzinfo=ROME)
    midnight = by_cig["BBEF9487B5", "active"].deadline_at
    assert midnight == datetime(2026, 6, 22, 23, 59, 59, tzinfo=ROME)
    modification = by_cig["B8BB6EBD03", "complete"]  # M2: no deadline, no amount
    assert (modification.deadline_at, modification.amount) == (None, None)
    # the synthetic obscured copy of the first notice: its lot withdrawn, nothing else stated
    withdrawn = by_cig["BBEF90A48C", "withdrawn"]
    assert (withdrawn.deadline_at, withdrawn.amount, withdrawn.buyer_name) == (None, None, None)
    assert withdrawn.document_key == "00000000-osc0-0000-0000-000000000000"
