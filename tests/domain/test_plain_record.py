"""A record built without the validation (`plain_record`) is exactly the validated one, and
values the validation would change or refuse are never taken that way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from src.domain.tender.plain_record import plain_record
from src.domain.tender.schemas import FieldWarning, TenderRecord
from src.readers.fields import build_record

ROME = ZoneInfo("Europe/Rome")


def _values(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "source": "anac",
        "procedure_id": "ocds-hu01ve-6000001",
        "lot_id": "1242486287",
        "cig": "1242486287",
        "title": "Lavori di riqualificazione",
        "description": "Lavori di riqualificazione energetica",
        "buyer_name": "Azienda ospedaliera",
        "buyer_id": "60274826351",
        "cpv": "45331000-6",
        "nuts": "ITH55",
        "procedure_type": "procedura aperta",
        "status": "active",
        "amount": Decimal("1958190.87"),
        "currency": "EUR",
        "published_at": datetime(2021, 6, 11, tzinfo=ROME),
        "deadline_at": datetime(2021, 7, 16, 23, 59, 59, tzinfo=ROME),
        "award_amount": Decimal("1652586.13"),
        "award_currency": "EUR",
        "awarded_at": datetime(2021, 8, 19, tzinfo=ROME),
        "supplier_name": "Sistemiservizi",
        "supplier_id": "83695957813",
        "source_url": "https://example.org/a.jsonl",
        "source_updated_at": datetime(2022, 10, 3, 12, tzinfo=UTC),
        "raw": None,
        "raw_json": '{"ocid": "ocds-hu01ve-6000001"}',
        "format": "ocds",
        "position": "line 2 lot 1242486287",
        "document_key": "ocds-hu01ve-6000001",
        "source_digest": "ab" * 32,
    }
    values.update(changes)
    return values


def _same(plain: TenderRecord, validated: TenderRecord) -> None:
    # repr: Decimal("1E+2") == Decimal("100"), and the content hash would tell them apart.
    assert repr(sorted(plain.__dict__.items())) == repr(sorted(validated.__dict__.items()))
    assert plain.model_fields_set == validated.model_fields_set
    assert plain == validated
    assert plain.model_dump() == validated.model_dump()
    assert plain.content_hash() == validated.content_hash()
    assert plain.identity_key == validated.identity_key


def _agrees(values: dict[str, Any]) -> TenderRecord | None:
    """What `plain_record` gives for `values`, checked against the validation."""
    warnings = [FieldWarning("nuts", "not a code", "X")]
    plain = plain_record(values, list(warnings))
    if plain is None:
        return None
    validated = TenderRecord(**values, warnings=list(warnings))  # never refuses a plain one
    _same(plain, validated)
    return plain


def test_a_typical_record_is_plain_and_the_same() -> None:
    record = _agrees(_values())
    assert record is not None
    assert record.warnings == [FieldWarning("nuts", "not a code", "X")]
    record.source_digest = "cd" * 32  # set later by the batch, as on a validated record
    assert record.source_digest == "cd" * 32


def test_fields_left_out_take_their_defaults() -> None:
    record = _agrees({"source": "ocds:abc", "procedure_id": "p-1", "title": "A title"})
    assert record is not None
    assert record.format == "ocds" and record.cig is None and record.lot_id is None


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "  padded  "},
        {"title": ""},
        {"title": None},
        {"title": "x" * 2001},
        {"cig": ""},
        {"cig": "   "},
        {"cig": "12345678901"},
        {"currency": "eur"},
        {"currency": "Euro"},
        {"currency": "€"},
        {"currency": "EU "},
        {"currency": "EURO"},
        {"status": "open"},
        {"amount": Decimal("1.005")},
        {"amount": Decimal("1e16")},
        {"amount": Decimal("NaN")},
        {"amount": 12.5},
        {"amount": "12.50"},
        {"published_at": datetime(2021, 6, 11)},
        {"published_at": "2021-06-11T00:00:00Z"},
        {"published_at": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))},
        {"buyer_name": "[{'value': 'x'}]"},
        {"buyer_name": '{"a": 1}'},
        {"buyer_name": ["a"]},
        {"nuts": "ITH55 "},
        {"raw_json": '{"a": 1}\n'},
        {"position": " line 2"},
        {"format": None},
        {"source": ""},
        {"procedure_id": "p" * 501},
        {"procedure_id": "é" * 400, "lot_id": "é" * 300},
        {"document_key": "k" * 3000},
        {"unknown_field": 1},
        {"warnings": []},
    ],
    ids=lambda changes: ",".join(f"{k}={str(v)[:20]!r}" for k, v in changes.items()),
)
def test_values_the_validation_would_change_or_refuse_are_not_plain(
    changes: dict[str, Any],
) -> None:
    values = _values(**changes)
    assert plain_record(values, []) is None
    # ...and build_record still gives what the validation gives (a record, or the refusal).
    try:
        expected: TenderRecord | None = TenderRecord(**values, warnings=[])
    except (ValidationError, TypeError):
        expected = None
    if expected is not None:
        assert build_record(values) == expected


def test_missing_required_fields_are_not_plain() -> None:
    values = _values()
    del values["title"]
    assert plain_record(values, []) is None


_TEXT = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["EUR", "eur", " A", "[x", "{'a': 1}", "active", "", "é" * 700, "ITH55"]),
)
_OTHER = st.one_of(
    st.none(),
    st.integers(-(10**20), 10**20),
    st.decimals(allow_nan=True, allow_infinity=True, places=None),
    st.datetimes(timezones=st.one_of(st.none(), st.just(UTC), st.just(ROME))),
    st.floats(allow_nan=True),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(sorted(_values())),
        st.one_of(_TEXT, _OTHER),
        max_size=6,
    )
)
def test_any_values_plain_only_when_the_validation_keeps_them(changes: dict[str, Any]) -> None:
    _agrees(_values(**changes))
