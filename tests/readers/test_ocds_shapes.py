"""OCDS shapes read once and right: versioned releases (each field its history) mapped to
their latest values, and bare records (no package) read from their releases only."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from src.domain.tender.schemas import HASHED_FIELDS, RejectedRecord, TenderRecord
from src.readers.ocds import read_ocds
from src.readers.ocds_mapping import map_release
from src.readers.ocds_versioned import is_versioned, latest_state
from tests.support.paths import FIXTURES

VERSIONED = FIXTURES / "ocds" / "versioned_release.json"
BARE_RECORDS = FIXTURES / "ocds" / "bare_records.json"


def read(data: bytes) -> list[object]:
    return list(read_ocds(io.BytesIO(data), source_url="test"))


def kinds(items: list[object]) -> Counter[str]:
    return Counter(type(item).__name__ for item in items)


def only_record(items: list[object]) -> TenderRecord:
    [record] = items
    assert isinstance(record, TenderRecord), record
    return record


def test_a_versioned_release_maps_its_latest_values() -> None:
    versioned = json.loads(VERSIONED.read_bytes())
    assert is_versioned(versioned)
    record = only_record(read(VERSIONED.read_bytes()))
    assert record.title == "Manutenzione strade comunali"
    assert (record.amount, record.currency) == (Decimal(120000), "EUR")
    assert record.procedure_type == "open" and record.cpv == "45233141-9"
    assert record.buyer_name == "Comune di Prova" and record.buyer_id == "IT-CF-80015010723"
    # The latest deadline, a date alone: the end of that day where the buyer is (Italy).
    assert record.deadline_at == datetime(2025, 3, 5, 22, 59, 59, tzinfo=UTC)
    assert record.source_updated_at == datetime(2025, 2, 1, 8, 0, tzinfo=UTC)
    assert record.raw == versioned, "the whole history is the raw publication"
    for name in ("title", "buyer_name", "procedure_type", "description"):
        assert "releaseID" not in str(getattr(record, name)), name


def test_a_versioned_release_in_a_package_a_record_or_a_line_is_never_merged() -> None:
    versioned = json.loads(VERSIONED.read_bytes())
    package = {"version": "1.1", "releases": [versioned]}
    record_package = {"version": "1.1", "records": [{"ocid": versioned["ocid"],
                                                     "versionedRelease": versioned}]}  # fmt: skip
    for document in (package, record_package, {"ocid": "x", "versionedRelease": versioned}):
        items = read(json.dumps(document).encode())
        assert only_record(items).title == "Manutenzione strade comunali", document.keys()
    lines = read(json.dumps(versioned).encode() + b"\n" + json.dumps(versioned).encode() + b"\n")
    assert kinds(lines) == Counter(UnmappedDocument=2)


def test_the_cdmx_versioned_release_maps_as_its_compiled_release(shared_data: Path) -> None:
    folder = shared_data / "ocds"
    versioned = json.loads((folder / "mx_cdmx_versioned_release_1ocid.expected.json").read_text())
    compiled = json.loads((folder / "mx_cdmx_compiled_release_1ocid.expected.json").read_text())
    [from_history] = cast(list[TenderRecord], list(map_release(versioned, source_url=None,
                                                                position=None)))  # fmt: skip
    [from_compiled] = cast(list[TenderRecord], list(map_release(compiled, source_url=None,
                                                                position=None)))  # fmt: skip
    # Release 02 changed no field, so the history cannot know its date: the versioned
    # release's latest date is the latest change (release 01's).
    differ = {"source_updated_at"}
    for name in set(HASHED_FIELDS) - differ:
        assert getattr(from_history, name) == getattr(from_compiled, name), name
    assert from_history.source_updated_at == datetime(2015, 12, 22, 6, 0, tzinfo=UTC)
    assert latest_state(versioned)["tender"] == compiled["tender"]


def test_bare_records_are_read_once_from_their_releases() -> None:
    """Two records without a package, each with its releases and a compiledRelease: one
    release each (to be merged), and the compiled release left unread."""
    data = BARE_RECORDS.read_bytes()
    items = read(data)
    assert kinds(items) == Counter(PendingRelease=2)
    records = json.loads(data)
    lines = b"".join(json.dumps(record).encode() + b"\n" for record in records)
    assert kinds(read(lines)) == Counter(PendingRelease=2), "JSON Lines of records"
    assert kinds(read(json.dumps(records[0]).encode())) == Counter(PendingRelease=1)
    package = {"version": "1.1", "records": records}
    assert kinds(read(json.dumps(package).encode())) == Counter(PendingRelease=2)


def test_a_record_of_linked_releases_reads_its_compiled_release() -> None:
    records: list[dict[str, Any]] = json.loads(BARE_RECORDS.read_bytes())
    for record in records:
        record["releases"] = [{"url": "https://example.invalid/r1", "date": "2025-05-20"}]
    assert kinds(read(json.dumps(records).encode())) == Counter(TenderRecord=2)
    package = {"version": "1.1", "records": records}
    assert kinds(read(json.dumps(package).encode())) == Counter(TenderRecord=2)
    del records[0]["compiledRelease"]
    items = read(json.dumps(records).encode())
    assert kinds(items) == Counter(TenderRecord=1, RejectedRecord=1)
    rejected = next(item for item in items if isinstance(item, RejectedRecord))
    assert "linked by URL only are not fetched" in rejected.reason
