"""How an OCDS release's fields fill a tender: time zones and date-only values, ANAC's noon
placeholder, organisation ids, title fallbacks, joint buyers, several awards of one lot, the
procedure type, and one bad field that never drops the tender."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from src.domain.tender.schemas import RejectedRecord, TenderRecord
from src.readers.ocds_mapping import map_release

ROME_SUMMER, ROME_WINTER = 2, 1  # hours ahead of UTC


def release(**fields: Any) -> dict[str, Any]:
    """A compiled release of one tender; `fields` replace or add top-level fields."""
    base: dict[str, Any] = {
        "ocid": "ocds-test01-1",
        "id": "r1",
        "date": "2025-06-01T10:00:00Z",
        "tag": ["compiled"],
        "buyer": {"id": "B1", "name": "Buyer One"},
        "parties": [{"id": "B1", "name": "Buyer One", "roles": ["buyer"]}],
        "tender": {"id": "T1", "title": "Road repair"},
    }
    return {**base, **fields}


def with_country(country: str, **tender: Any) -> dict[str, Any]:
    party = {"id": "B1", "name": "Buyer One", "roles": ["buyer"],
             "address": {"countryName": country}}  # fmt: skip
    return release(parties=[party], tender={"id": "T1", "title": "Road repair", **tender})


def mapped(document: dict[str, Any]) -> list[TenderRecord | RejectedRecord]:
    return list(map_release(document, source_url=None, position="test"))


def one(document: dict[str, Any]) -> TenderRecord:
    [record] = mapped(document)
    assert isinstance(record, TenderRecord), record
    return record


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- dates: the buyer's zone, a date-only deadline is the end of its day -------------------


@pytest.mark.parametrize(
    ("country", "deadline"),
    [
        (" United Kingdom", utc(2025, 7, 1, 22, 59, 59)),  # BST
        ("MX", utc(2025, 7, 2, 5, 59, 59)),  # Mexico City, UTC-6
        ("México", utc(2025, 7, 2, 5, 59, 59)),
        ("Italia", utc(2025, 7, 1, 21, 59, 59)),  # CEST
        ("Atlantis", utc(2025, 7, 1, 23, 59, 59)),  # unknown: UTC
    ],
)
def test_a_date_only_deadline_ends_its_day_where_the_buyer_is(
    country: str, deadline: datetime
) -> None:
    period = {"startDate": "2025-06-02", "endDate": "2025-07-01"}
    awards = [{"id": "A", "date": "2025-07-10", "value": {"amount": 5, "currency": "EUR"}}]
    document = with_country(country, tenderPeriod=period)
    document["awards"] = awards
    record = one(document)
    assert record.deadline_at == deadline
    offset = deadline - utc(2025, 7, 1, 23, 59, 59)
    assert record.published_at == utc(2025, 6, 2) + offset, "a publication date: the day's start"
    assert record.awarded_at == utc(2025, 7, 10) + offset


def test_a_time_without_an_offset_is_local_to_the_buyer() -> None:
    record = one(with_country("GB", tenderPeriod={"endDate": "2025-01-15T12:00:00"}))
    assert record.deadline_at == utc(2025, 1, 15, 12)
    record = one(with_country("Mexico", tenderPeriod={"endDate": "2025-01-15T12:00:00"}))
    assert record.deadline_at == utc(2025, 1, 15, 18)
    # The buyer of OCDS 1.0 carries its own address; a procuring entity's is the fallback.
    document = release(parties=[], buyer={"name": "B", "address": {"countryName": "Italy"}})
    document["tender"]["tenderPeriod"] = {"endDate": "2025-01-15T12:00:00"}
    assert one(document).deadline_at == utc(2025, 1, 15, 11)
    document = release(buyer=None, parties=[])
    document["tender"].update(
        procuringEntity={"name": "PE", "address": {"countryName": "Italy"}},
        tenderPeriod={"endDate": "2025-01-15T12:00:00"},
    )
    assert one(document).deadline_at == utc(2025, 1, 15, 11)


def anac(**tender: Any) -> dict[str, Any]:
    document = release(ocid="ocds-hu01ve-9000001", date="2022-01-26T12:00:00Z")
    document["tender"] = {"id": "9000001", "description": "Lavori", "lots": [{"id": "9000001AAA"}],
                          **tender}  # fmt: skip
    return document


def test_anac_noon_utc_is_a_date_without_a_time() -> None:
    """ANAC writes every date as noon UTC: a deadline is the end of that day in Rome, a
    publication or award date its start; the release's own date is kept as written."""
    document = anac(tenderPeriod={"startDate": "2022-01-10T12:00:00Z",
                                  "endDate": "2022-02-08T12:00:00Z"})  # fmt: skip
    supplier = {"id": "01234567890", "name": "IMPRESA SRL"}
    document["awards"] = [
        {"id": "A", "date": "2022-06-06T12:00:00Z", "relatedLots": ["9000001AAA"],
         "suppliers": [supplier]}
    ]  # fmt: skip
    record = one(document)
    assert record.deadline_at == utc(2022, 2, 8, 23 - ROME_WINTER, 59, 59)
    assert record.published_at == utc(2022, 1, 9, 24 - ROME_WINTER)
    assert record.awarded_at == utc(2022, 6, 5, 24 - ROME_SUMMER)
    assert record.source_updated_at == utc(2022, 1, 26, 12)
    # A time that is not noon UTC is a real time.
    document["tender"]["tenderPeriod"]["endDate"] = "2022-02-08T10:30:00Z"
    assert one(document).deadline_at == utc(2022, 2, 8, 10, 30)


def test_anac_malformed_release_dates_are_read_or_warned_never_rejected() -> None:
    record = one({**anac(), "date": "2025-01-08 17:31:38.793T12:00:00Z"})
    assert record.source_updated_at == datetime(2025, 1, 8, 16, 31, 38, 793000, tzinfo=UTC)
    assert record.warnings == []
    record = one({**anac(), "date": "sometime in 2025"})
    assert record.source_updated_at is None and record.cig == "9000001AAA"
    [warning] = record.warnings
    assert warning.field == "source_updated_at" and warning.raw == "sometime in 2025"


# --- organisations -------------------------------------------------------------------------


def test_ocds_1_0_organisations_are_identified_by_scheme_and_id() -> None:
    """OCDS 1.0 organisations have no `id`: `{scheme}-{id}` of their identifier."""
    document = release(
        parties=None,
        buyer={"name": "Met Office", "identifier": {"scheme": "GB-COH", "id": "01234567"}},
        awards=[{"id": "1", "suppliers": [{"name": "Acme Ltd",
                 "identifier": {"scheme": "GB-COH", "id": "07654321"}}]}],
    )  # fmt: skip
    record = one(document)
    assert (record.buyer_id, record.supplier_id) == ("GB-COH-01234567", "GB-COH-07654321")
    # scheme-id is preferred to the party id (often an internal hash); an id already
    # prefixed by its scheme is kept; a scheme that is not a code leaves the party id.
    parties = [
        {"id": "8130c440", "name": "Buyer One", "roles": ["buyer"],
         "identifier": {"scheme": "UA-EDR", "id": "UA-EDR-26064374"}},
        {"id": "SUP-1", "name": "Acme", "roles": ["supplier"],
         "identifier": {"scheme": "Registro Federal de Contribuyentes", "id": "GAB0709244G5"}},
    ]  # fmt: skip
    awards = [{"id": "1", "suppliers": [{"id": "SUP-1", "name": "Acme"}]}]
    document = release(
        parties=parties, buyer={"id": "8130c440", "name": "Buyer One"}, awards=awards
    )
    record = one(document)
    assert (record.buyer_id, record.supplier_id) == ("UA-EDR-26064374", "SUP-1")
    # An identifier without a scheme and no party id: its id alone.
    document = release(parties=None, buyer={"name": "B", "identifier": {"id": "GDF9712054NA"}})
    assert one(document).buyer_id == "GDF9712054NA"


def test_joint_procurement_keeps_every_buyer_the_lead_first() -> None:
    parties = [
        {"id": "B2", "name": "Buyer Two", "roles": ["buyer"]},
        {"id": "B1", "name": "Buyer One", "roles": ["buyer"]},
        {"id": "B3", "name": "Buyer Three", "roles": ["buyer", "payer"]},
        {"id": "PE", "name": "Central Purchasing", "roles": ["procuringEntity"]},
    ]
    record = one(release(parties=parties))
    assert record.buyer_name == "Buyer One; Buyer Two; Buyer Three"
    assert record.buyer_id == "B1", "the lead buyer's id"
    # No buyer at all: the procuring entity names who buys.
    document = release(buyer=None, parties=[])
    document["tender"]["procuringEntity"] = {"name": "Central Purchasing", "id": "PE"}
    assert (one(document).buyer_name, one(document).buyer_id) == ("Central Purchasing", "PE")


# --- title ---------------------------------------------------------------------------------


def test_a_tender_without_title_or_description_takes_an_item_description() -> None:
    tender = {
        "id": "T1",
        "mainProcurementCategory": "works",
        "tenderPeriod": {"endDate": "2025-07-01T12:00:00Z"},
        "lots": [{"id": "L1"}, {"id": "L2"}],
        "items": [
            {"id": "1", "relatedLot": "L2", "description": "Resurfacing of Via Roma"},
            {"id": "2", "description": "Signs for every lot"},
        ],
    }
    first, second = mapped(release(tender=tender))
    assert isinstance(first, TenderRecord) and isinstance(second, TenderRecord)
    assert (first.title, second.title) == ("Signs for every lot", "Resurfacing of Via Roma")
    assert first.description is None, "the title's source is not copied to the description"
    del tender["items"]
    record = one(release(tender={**tender, "lots": []}))
    assert record.title == "Buyer One — works", "the last resort: buyer and category"
    document = release(buyer=None, parties=[], tender={**tender, "lots": []})
    [rejected] = mapped(document)
    assert isinstance(rejected, RejectedRecord) and "title" in rejected.reason


def test_a_title_of_the_wrong_type_is_never_stored_as_text() -> None:
    tender = {"id": "T1", "title": [{"value": "Road"}], "description": "Road repair in town"}
    record = one(release(tender=tender))
    assert record.title == "Road repair in town"
    assert [w.field for w in record.warnings] == ["title"]


# --- awards and procedure type -------------------------------------------------------------


def award(amount: Any, supplier: str, **fields: Any) -> dict[str, Any]:
    return {"id": supplier, "value": {"amount": amount, "currency": "MXN"},
            "suppliers": [{"id": supplier, "name": f"Supplier {supplier}"}], **fields}  # fmt: skip


def test_several_awards_of_a_lot_are_one_award_of_their_total() -> None:
    """Undated awards (a contract and its extension, as Mexico's APF publishes them):
    amounts summed, suppliers joined, no date."""
    record = one(release(awards=[award(189654, "S1"), award(37930.71, "S1")]))
    assert (record.award_amount, record.award_currency) == (Decimal("227584.71"), "MXN")
    assert (record.supplier_name, record.supplier_id) == ("Supplier S1", "S1")
    assert record.awarded_at is None and record.status == "complete"
    awards = [
        award(100, "S1", date="2025-01-01T00:00:00Z", status="active"),
        award(50, "S2", date="2025-03-01T00:00:00Z"),
        award(999, "S3", date="2025-04-01T00:00:00Z", status="cancelled"),
        award(999, "S4", date="2025-04-01T00:00:00Z", status="pending"),
        award(999, "S5", status="unsuccessful"),
    ]
    record = one(release(awards=awards))
    assert record.award_amount == Decimal(150) and record.awarded_at == utc(2025, 3, 1)
    assert (record.supplier_name, record.supplier_id) == ("Supplier S1; Supplier S2", "S1; S2")
    awards[1]["value"]["currency"] = "USD"  # no total across currencies: the latest award's
    record = one(release(awards=awards))
    assert (record.award_amount, record.award_currency) == (Decimal(50), "USD")


@pytest.mark.parametrize(
    ("method", "details", "expected"),
    [
        ("open", "Procedura aperta", "open (Procedura aperta)"),
        ("open", None, "open"),
        (None, "COD:1 ; TITLE:PROCEDURA APERTA", "procedura aperta"),
        ("selective", "COD:4 ; TITLE:PROCEDURA RISTRETTA", "selective (procedura ristretta)"),
        ("Cerere a ofertelor de preţuri", None, "Cerere a ofertelor de preţuri"),
        ("direct", "direct", "direct"),
    ],
)
def test_procedure_type_is_the_method_code_with_its_details(
    method: str | None, details: str | None, expected: str
) -> None:
    tender = {"id": "T1", "title": "X", "procurementMethod": method,
              "procurementMethodDetails": details}  # fmt: skip
    assert one(release(tender=tender)).procedure_type == expected


# --- one bad field -------------------------------------------------------------------------


def test_one_bad_field_is_left_empty_with_a_warning_and_the_tender_kept() -> None:
    document = release(
        awards=[{"id": "A", "date": "yesterday", "value": {"amount": 10, "currency": "Euro"},
                 "suppliers": [{"id": "S", "name": "Supplier"}]}],
    )  # fmt: skip
    document["tender"].update(
        value={"amount": "abc", "currency": "EURO"},
        tenderPeriod={"startDate": "01/02/2025", "endDate": "2025-07-01T12:00:00Z"},
    )
    record = one(document)
    assert (record.amount, record.currency) == (None, "EUR")
    assert (record.award_amount, record.award_currency) == (Decimal(10), "EUR")
    assert record.awarded_at is None and record.published_at is None
    assert record.deadline_at == utc(2025, 7, 1, 12) and record.supplier_name == "Supplier"
    warned = {w.field: w.raw for w in record.warnings}
    assert warned == {"amount": "abc", "awarded_at": "yesterday", "published_at": "01/02/2025"}
    # A value the record refuses (out of range, a currency of four letters) is one too.
    document = copy.deepcopy(document)
    document["tender"]["value"] = {"amount": 1e20, "currency": "EURX"}
    record = one(document)
    assert (record.amount, record.currency) == (None, None)
    assert {"amount", "currency"} <= {w.field for w in record.warnings}
