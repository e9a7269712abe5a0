"""OCDS shapes read once and right: versioned releases (each field its history) mapped to
their latest values."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import cast

from src.domain.tender.schemas import HASHED_FIELDS, TenderRecord
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


def test_a_versioned_release_in_a_package_or_a_line_is_never_merged() -> None:
    versioned = json.loads(VERSIONED.read_bytes())
    package = {"version": "1.1", "releases": [versioned]}
    items = read(json.dumps(package).encode())
    assert only_record(items).title == "Manutenzione strade comunali"
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
