from __future__ import annotations

import gzip
import io
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from src.domain.tender.schemas import RejectedRecord, TenderRecord
from src.readers import UnmappedDocument, map_document
from src.readers.fields import MAX_FIELD_WARNINGS
from src.readers.ocds import OcdsFormatError, read_ocds
from src.readers.ocds_mapping import map_release, normalize_cpv, source_of
from src.readers.registry import UnknownFormatError, detect_format
from tests.support.big_documents import lot_cpv, release_with_lots, release_with_shared_awards
from tests.support.paths import FIXTURES


def read(data: bytes) -> list[object]:
    return list(read_ocds(io.BytesIO(data), source_url="test"))


def test_anac_release_package_one_tender_per_lot() -> None:
    items = read((FIXTURES / "ocds" / "anac_two_procedures.json").read_bytes())
    records = [i for i in items if isinstance(i, TenderRecord)]
    rejected = [i for i in items if isinstance(i, RejectedRecord)]
    assert [r.cig for r in records] == ["1234567A0B", "1234567A0C", "Z0A1B2C3D4"]
    assert len(rejected) == 1
    assert "invalid CIG 'NOT-A-CIG'" in rejected[0].reason
    assert rejected[0].position == "release 1 lot NOT-A-CIG"
    first, second, single = records
    assert first.source == "anac" and first.identity_key == "anac:1234567A0B"
    assert first.procedure_id == "ocds-hu01ve-1000001"
    assert first.title == "LOTTO 1 - PARCHI NORD"
    assert first.amount == Decimal("100000") and first.currency == "EUR"
    assert first.cpv == "77310000-6" and second.cpv == "77313000"
    assert first.procedure_type == "procedura aperta"
    assert first.buyer_id == "80015010723" and first.buyer_name == "COMUNE DI PROVA"
    assert first.supplier_name == "VERDE SRL" and first.award_amount == Decimal("95000.5")
    assert second.supplier_name is None, "an award belongs to its own lot only"
    # A naive Italian date is Europe/Rome (UTC+1 in February).
    assert first.deadline_at == datetime(2025, 2, 20, 11, 0, tzinfo=UTC)
    # The single lot takes the tender's value; its title comes from the description.
    assert single.amount == Decimal("45000") and single.title == "FORNITURA DI ARREDI SCOLASTICI"
    assert single.status == "complete"
    # Lots of one procedure share one raw publication object (stored once).
    assert first.raw is second.raw


def test_gzip_and_concatenated_packages_and_arrays(tmp_path: Path) -> None:
    package = (FIXTURES / "ocds" / "anac_two_procedures.json").read_bytes()
    doubled = read(package + b"\n" + package)
    assert len(doubled) == 8
    array = read(b"[" + package + b"," + package + b"]")
    assert len(array) == 8
    compressed = tmp_path / "p.json.gz"
    compressed.write_bytes(gzip.compress(package))
    from src.infra.streams import DecompressionBudget, maybe_gunzip

    with compressed.open("rb") as handle:
        stream = maybe_gunzip(handle, DecompressionBudget(), compressed.name)
        assert len(list(read_ocds(stream))) == 4


def test_truncated_json_raises_after_the_good_records() -> None:
    package = (FIXTURES / "ocds" / "anac_two_procedures.json").read_bytes()
    cut = package[: package.index(b'"ocid": "ocds-hu01ve-1000002"')]
    reader = read_ocds(io.BytesIO(cut))
    seen = [next(reader) for _ in range(3)]  # release 1: two lots and one rejected lot
    assert [type(item).__name__ for item in seen] == ["TenderRecord"] * 2 + ["RejectedRecord"]
    with pytest.raises(OcdsFormatError, match="truncated or invalid JSON"):
        next(reader)


def test_json_that_is_not_ocds_is_a_clear_error() -> None:
    with pytest.raises(OcdsFormatError, match="not OCDS"):
        read(b'{"hello": "world"}')


def test_detect_format() -> None:
    assert detect_format(io.BytesIO(b"  \n{")) == "ocds"
    with pytest.raises(UnknownFormatError, match="pass --format"):
        detect_format(io.BytesIO(b"\x00\x01binary"), "x.bin")


def counting_dicts() -> tuple[Counter[int], type[dict[str, Any]]]:
    """A dict type that counts the `get`s on each of its objects, and the counts (by id)."""
    reads = Counter[int]()

    class Counted(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            reads[id(self)] += 1
            return super().get(key, default)

    return reads, Counted


def test_a_release_of_many_lots_reads_each_item_and_award_a_bounded_number_of_times() -> None:
    """Every lot used to rescan every item and award: 20,000 lots took 106 s. Counted in
    reads, not timed: each item and award is read a few times, whatever the lots."""
    reads, counted = counting_dicts()
    lots = 400
    release = release_with_lots(lots)
    release["tender"]["items"] = [counted(item) for item in release["tender"]["items"]]
    release["awards"] = [counted(award) for award in release["awards"]]
    mapped = list(map_release(release, source_url=None, position=None))
    assert all(isinstance(r, TenderRecord) for r in mapped) and len(mapped) == lots
    for index, record in enumerate(cast(list[TenderRecord], mapped)):
        assert (record.lot_id, record.cpv) == (f"L-{index}", lot_cpv(index))
        assert (record.award_amount, record.supplier_id) == (Decimal(index), f"S-{index}")
    assert len(reads) == 2 * lots + 1
    assert max(reads.values()) <= 12  # was 803 for an award, 401 for an item


def test_awards_that_name_every_lot_are_read_once_not_once_a_lot() -> None:
    """A framework whose every award names every lot: each lot has every award, and reading
    each award for each lot cost 10 us a reference (a 3.7 MB release, 4 s). Counted in
    reads: each award is read a bounded number of times, whatever the lots; each lot still
    has the total of every award, and the warning of a value that cannot be read."""
    reads, counted = counting_dicts()
    lots, awards = 300, 20
    release = release_with_shared_awards(lots, awards)
    release["awards"] = [counted(award) for award in release["awards"]]
    release["awards"][3]["value"] = {"amount": "a lot", "currency": "EUR"}
    mapped = cast(list[TenderRecord], list(map_release(release, source_url=None, position=None)))
    assert len(mapped) == lots
    total = Decimal(sum(range(awards)) - 3)  # award i is of i euros; award 3's is unreadable
    assert {r.award_amount for r in mapped} == {total}
    assert all([w.field for w in r.warnings] == ["award_amount"] for r in mapped)
    names = "; ".join(f"Supplier {i}" for i in range(awards))
    assert {(r.supplier_name, r.supplier_id) for r in mapped} == {(names, "S-0")}
    assert max(reads.values()) <= 12  # was 902: three reads for each lot


def test_awards_whose_lots_each_have_a_set_of_their_own_are_read_once_each() -> None:
    """Lot i has awards 0 to i, a set no other lot has: no set is totalled twice, but each
    award is still read once for the release (its date, value and suppliers), not once for
    each lot that has it."""
    reads, counted = counting_dicts()
    lots = 200
    release = release_with_lots(lots)
    lot_ids = [lot["id"] for lot in release["tender"]["lots"]]
    release["awards"] = [
        counted(a, relatedLots=lot_ids[i:]) for i, a in enumerate(release["awards"])
    ]
    mapped = cast(list[TenderRecord], list(map_release(release, source_url=None, position=None)))
    assert [r.award_amount for r in mapped] == [Decimal(sum(range(i + 1))) for i in range(lots)]
    assert [r.supplier_name for r in mapped][:2] == ["Supplier 0", "Supplier 0; Supplier 1"]
    assert max(reads.values()) <= 12  # was 602 for the first award: three reads a lot


def test_a_record_keeps_a_bounded_number_of_field_warnings() -> None:
    """Awards that each name every lot, none of whose values can be read: each lot would
    carry a warning per award (lots x awards rows, from a few bytes a reference). A record
    keeps the first MAX_FIELD_WARNINGS and one more saying how many were left out."""
    lots = awards = MAX_FIELD_WARNINGS + 10
    release = release_with_shared_awards(lots, awards)
    for award in release["awards"]:
        award["value"] = {"amount": "unreadable", "currency": "EUR"}
    mapped = cast(list[TenderRecord], list(map_release(release, source_url=None, position=None)))
    assert len(mapped) == lots
    for record in mapped:
        assert record.award_amount is None and len(record.warnings) == MAX_FIELD_WARNINGS + 1
        assert {w.field for w in record.warnings[:-1]} == {"award_amount"}
        last = record.warnings[-1]
        assert (last.field, last.raw) == ("warnings", None)
        assert (
            last.problem == "10 more field warnings of this record not kept (fields: award_amount)"
        )


def test_each_lot_finds_its_items_and_awards_as_published() -> None:
    release = release_with_lots(3)
    items, awards = release["tender"]["items"], release["awards"]
    items[1]["relatedLot"] = None  # an item of every lot, before lot 2's own
    items.insert(0, {"relatedLot": ["L-0"], "classification": {"scheme": "CPV", "id": "1"}})
    awards[0].update(date="2025-02-01T00:00:00Z")
    awards.append({**awards[0], "relatedLots": ["L-0", "L-2"], "value": {"amount": 7}})
    awards.append({**awards[0], "status": "cancelled", "date": "2026-01-01T00:00:00Z"})
    awards.append({**awards[0], "relatedLots": "L-1 and L-2", "value": {"amount": 8}})
    mapped = cast(list[TenderRecord], list(map_release(release, source_url=None, position=None)))
    assert [r.cpv for r in mapped] == [lot_cpv(0), lot_cpv(1), lot_cpv(1)]
    # A lot's awards in force are totalled when they share a currency; the added awards
    # have none, so each lot takes its latest award (see test_ocds_rules for totals).
    assert [r.award_amount for r in mapped] == [Decimal(7), Decimal(8), Decimal(8)]
    del release["tender"]["lots"][1:]  # one lot: an award naming no lot is its own
    awards[:] = [{**awards[1], "relatedLots": [], "date": "2027-01-01"}, awards[0]]
    [only] = cast(list[TenderRecord], list(map_release(release, source_url=None, position=None)))
    assert only.award_amount == Decimal(1)


def test_helpers() -> None:
    assert source_of("ocds-hu01ve-123") == "anac"
    assert source_of("OCDS-87SD3T-AD-1") == "ocds:ocds-87sd3t"
    assert normalize_cpv("45000000-7") == "45000000-7"
    assert normalize_cpv(" 45000000 ") == "45000000"


def test_every_shared_ocds_sample_reads(shared_data: Path) -> None:
    outcome: dict[str, Counter[str]] = {}
    for path in sorted((shared_data / "ocds").glob("*.json*")):
        if path.name.endswith((".meta.json", ".expected.json")):
            continue
        with path.open("rb") as handle:
            outcome[path.name] = Counter(type(i).__name__ for i in read_ocds(handle))
    # ANAC publishes compiled releases: mapped at once; other publishers' releases are merged.
    # JSON lines are handed on unmapped (mapped only when their bytes are new): 32 lines.
    assert outcome["it_anac_compiled_releases_2022_sample.jsonl"] == Counter(UnmappedDocument=32)
    with (shared_data / "ocds" / "it_anac_compiled_releases_2022_sample.jsonl").open("rb") as f:
        built = [
            r for d in read_ocds(f) if isinstance(d, UnmappedDocument) for r in map_document(d)
        ]
    assert Counter(type(r).__name__ for r in built) == Counter(TenderRecord=134)
    assert outcome["pt_impic_release_package_array.json"]["PendingRelease"] == 100
    assert all(sum(counts.values()) > 0 for counts in outcome.values())
