"""eForms notices over a procedure's life: each notice is a publication of its own and states
only what it says (a CN the deadline and estimate, its CAN the award), so that merging them
field by field gives one state in any order; winners read without a LotResult; dates without
an offset in the buyer's country's zone; a PIN's expression-of-interest deadline."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from src.domain.tender.schemas import RejectedRecord, TenderRecord
from src.readers.eforms import read_eforms
from src.readers.registry import map_publication
from tests.support.paths import FIXTURES, require_shared_data

EFORMS = FIXTURES / "eforms"
LONDON, ROME, BERLIN = ZoneInfo("Europe/London"), ZoneInfo("Europe/Rome"), ZoneInfo("Europe/Berlin")
CEST = timezone(timedelta(hours=2))
AWARD_FIELDS = ("award_amount", "award_currency", "awarded_at", "supplier_name", "supplier_id")


def read(data: bytes) -> dict[str | None, TenderRecord]:
    items = list(read_eforms(io.BytesIO(data)))
    assert [item for item in items if isinstance(item, RejectedRecord)] == []
    return {item.lot_id: item for item in items if isinstance(item, TenderRecord)}


def read_fixture(name: str) -> dict[str | None, TenderRecord]:
    return read((EFORMS / name).read_bytes())


def merged(*notices: dict[str | None, TenderRecord]) -> dict[str | None, dict[str, Any]]:
    """The merge the ingest layer applies (DESIGN.md, Identity): notices in the order they
    were issued, a later one setting what it states, `published_at` the first publication."""
    state: dict[str | None, dict[str, Any]] = {}
    records = [record for notice in notices for record in notice.values()]
    for record in sorted(
        records, key=lambda r: r.source_updated_at or datetime.min.replace(tzinfo=UTC)
    ):
        row = state.setdefault(record.lot_id, {})
        for name, value in record.hashed_fields().items():
            if value is not None and not (name == "published_at" and row.get(name)):
                row[name] = value
    return state


# --- item 1: every notice on its own, stating only what it says ------------------------------


def test_a_contract_notice_and_its_award_notice_each_state_only_their_part() -> None:
    cn, can = read_fixture("cn_2lots_gbr.xml"), read_fixture("can_2lots_gbr.xml")
    assert list(cn) == list(can) == ["LOT-0001", "LOT-0002"]
    for lot_id in cn:
        assert cn[lot_id].identity_key == can[lot_id].identity_key  # one row per lot
        assert cn[lot_id].procedure_id == "00000000-fold-4000-b000-0000000000bb"
        # each notice is stored on its own: notice id + version, as change notices name them
        assert cn[lot_id].document_key == "00000000-test-4000-b000-000000000011-01"
        assert can[lot_id].document_key == "00000000-test-4000-b000-000000000012-01"
        assert cn[lot_id].status == "active"
        assert [getattr(cn[lot_id], name) for name in AWARD_FIELDS] == [None] * 5
        assert (can[lot_id].deadline_at, can[lot_id].amount, can[lot_id].currency) == (
            None,
            None,
            None,
        )
        assert can[lot_id].description is None  # the award notice gives none: the CN's stays
        assert cn[lot_id].published_at == cn[lot_id].source_updated_at
        assert can[lot_id].published_at == can[lot_id].source_updated_at
    assert (cn["LOT-0001"].amount, cn["LOT-0001"].currency) == (Decimal(600000), "GBP")
    won, closed = can["LOT-0001"], can["LOT-0002"]
    assert (won.status, won.supplier_name, won.supplier_id) == (
        "complete",
        "Example Roadworks Ltd",
        "GB-COH-00000002",
    )
    assert (won.award_amount, won.award_currency) == (Decimal(575000), "GBP")
    assert closed.status == "unsuccessful"
    assert [getattr(closed, name) for name in AWARD_FIELDS] == [None] * 5


def test_cn_then_can_and_can_then_cn_merge_to_the_same_state() -> None:
    cn, can = read_fixture("cn_2lots_gbr.xml"), read_fixture("can_2lots_gbr.xml")
    state = merged(cn, can)
    assert merged(can, cn) == state
    first = state["LOT-0001"]
    assert first["deadline_at"] == cn["LOT-0001"].deadline_at is not None  # from the CN
    assert first["amount"] == Decimal(600000)
    assert first["supplier_name"] == "Example Roadworks Ltd"  # from the CAN
    assert first["status"] == "complete"
    assert first["published_at"] == cn["LOT-0001"].published_at  # first publication
    assert first["source_updated_at"] == can["LOT-0001"].source_updated_at
    assert state["LOT-0002"]["status"] == "unsuccessful"
    assert state["LOT-0002"]["deadline_at"] == cn["LOT-0002"].deadline_at


@pytest.mark.parametrize(
    "name",
    ["cn_2lots_gbr.xml", "can_2lots_gbr.xml", "veat_lottender_only.xml", "pin-cfc_2lots.xml"],
)
def test_a_stored_notice_maps_again_to_the_same_records(name: str) -> None:
    read_now = list(read_fixture(name).values())
    raw = orjson.loads(orjson.dumps(read_now[0].raw))  # as the publications table keeps it
    again = map_publication("eforms", raw, source_url=None)
    assert all(isinstance(item, TenderRecord) for item in again)
    assert [(r.hashed_fields(), r.document_key) for r in again if isinstance(r, TenderRecord)] == [
        (r.hashed_fields(), r.document_key) for r in read_now
    ]


def test_a_notice_without_a_version_is_stored_under_its_id() -> None:
    data = (
        (EFORMS / "cn_2lots_gbr.xml")
        .read_bytes()
        .replace(b"<cbc:VersionID>01</cbc:VersionID>", b"")
    )
    assert {r.document_key for r in read(data).values()} == {"00000000-test-4000-b000-000000000011"}


# --- item 4: dates without an offset are the buyer's country's local time --------------------


def test_uk_buyer_dates_without_offset_are_london_time() -> None:
    cn, can = read_fixture("cn_2lots_gbr.xml"), read_fixture("can_2lots_gbr.xml")
    # 12:00 in London in April is 11:00 UTC (summer time)
    assert cn["LOT-0001"].deadline_at == datetime(2024, 4, 15, 12, 0, tzinfo=LONDON)
    assert cn["LOT-0001"].deadline_at == datetime(2024, 4, 15, 11, 0, tzinfo=UTC)
    # a date-only deadline is the end of that day
    assert cn["LOT-0002"].deadline_at == datetime(2024, 4, 22, 23, 59, 59, tzinfo=LONDON)
    assert cn["LOT-0001"].published_at == datetime(2024, 3, 4, 10, 15, tzinfo=UTC)  # GMT
    # a date-only award date is the start of that day
    assert can["LOT-0001"].awarded_at == datetime(2024, 5, 20, tzinfo=LONDON)


def test_italian_buyer_dates_without_offset_are_rome_time() -> None:
    data = (EFORMS / "cn_2lots_ita.xml").read_bytes()
    data = data.replace(b"+02:00<", b"<").replace(b"+01:00<", b"<")
    lots = read(data)
    assert lots["LOT-0001"].deadline_at == datetime(2024, 4, 15, 12, 0, tzinfo=ROME)
    assert lots["LOT-0002"].deadline_at == datetime(2024, 4, 20, 23, 59, 59, tzinfo=ROME)
    assert lots["LOT-0002"].deadline_at == datetime(2024, 4, 20, 21, 59, 59, tzinfo=UTC)
    assert lots["LOT-0001"].published_at == datetime(2024, 3, 1, 9, 30, tzinfo=ROME)


def test_an_offset_wins_and_an_unknown_country_is_utc() -> None:
    stated = read_fixture("cn_2lots_ita.xml")["LOT-0002"].deadline_at
    assert stated == datetime(2024, 4, 20, 23, 59, 59, tzinfo=CEST)  # the date's own offset
    data = (EFORMS / "cn_2lots_gbr.xml").read_bytes().replace(b">GBR<", b">XYZ<")
    assert read(data)["LOT-0002"].deadline_at == datetime(2024, 4, 22, 23, 59, 59, tzinfo=UTC)


# --- item 3: the winner given only through LotTender and SettledContract ---------------------


def test_veat_winner_without_a_lot_result() -> None:
    [record] = read_fixture("veat_lottender_only.xml").values()
    assert record.status == "complete"
    assert (record.supplier_name, record.supplier_id) == (
        "Letti Esempio SpA",
        "IT-PIVA-00000000010",
    )
    assert record.awarded_at == datetime(2024, 5, 10, tzinfo=ROME)  # AwardDate, no offset
    # no amount on the tender: the notice's total, the notice having one lot
    assert (record.award_amount, record.award_currency) == (Decimal(350000), "EUR")
    assert (record.amount, record.deadline_at) == (None, None)


def test_veat_tender_amount_wins_over_the_total_and_contract_date_without_award_date() -> None:
    data = (EFORMS / "veat_lottender_only.xml").read_bytes()
    data = data.replace(
        b"</efac:TenderingParty>\n              <efac:TenderLot>",
        b"</efac:TenderingParty>\n<cac:LegalMonetaryTotal><cbc:PayableAmount currencyID='EUR'>"
        b"349000.50</cbc:PayableAmount></cac:LegalMonetaryTotal>\n              <efac:TenderLot>",
    )
    data = data.replace(b"<cbc:AwardDate>2024-05-10</cbc:AwardDate>", b"")
    [record] = read(data).values()
    assert (record.award_amount, record.award_currency) == (Decimal("349000.50"), "EUR")
    assert record.awarded_at == datetime(2024, 5, 24, tzinfo=ROME)  # the contract's IssueDate


def test_the_notice_total_is_not_a_lot_award_when_there_are_several_lots() -> None:
    data = (EFORMS / "veat_lottender_only.xml").read_bytes()
    second = (
        b'<cac:ProcurementProjectLot><cbc:ID schemeName="Lot">LOT-0001</cbc:ID>'
        b"</cac:ProcurementProjectLot>"
    )
    data = data.replace(b"</ContractAwardNotice>", second + b"</ContractAwardNotice>")
    lots = read(data)
    assert lots["LOT-0000"].supplier_name == "Letti Esempio SpA"
    assert lots["LOT-0000"].award_amount is None
    assert lots["LOT-0001"].supplier_name is None  # no tender names it


def test_without_result_nor_contract_the_tender_ranked_first_wins() -> None:
    data = (EFORMS / "can_2lots_ita.xml").read_bytes()
    start, end = data.index(b"<efac:LotResult>"), data.rindex(b"</efac:LotResult>")
    data = data[:start] + data[end + len(b"</efac:LotResult>") :]  # no LotResult at all
    start, end = data.index(b"<efac:SettledContract>"), data.index(b"</efac:SettledContract>")
    data = data[:start] + data[end + len(b"</efac:SettledContract>") :]  # nor contract
    lots = read(data)
    assert lots["LOT-0001"].supplier_name == "Ristorazione Prova SpA; Cucine Esempio Srl"
    assert lots["LOT-0001"].award_amount == Decimal(185000)  # TEN-0001, rank 1
    assert lots["LOT-0001"].awarded_at is None
    assert lots["LOT-0002"].supplier_name is None


# --- item 9: several winners on one lot; a PIN's expression-of-interest deadline -------------


def two_winners() -> bytes:
    """can_2lots_ita as a framework agreement with two suppliers on LOT-0001: TEN-0002 has a
    contract (CON-0002) too."""
    data = (EFORMS / "can_2lots_ita.xml").read_bytes()
    named = (
        b'<cbc:ID schemeName="contract">CON-0001</cbc:ID>\n              </efac:SettledContract>'
    )
    assert data.count(named) == 1
    data = data.replace(
        named, named + b"<efac:SettledContract><cbc:ID>CON-0002</cbc:ID></efac:SettledContract>"
    )
    parties = b"<efac:TenderingParty>\n              <cbc:ID"
    contract = (
        b"<efac:SettledContract><cbc:ID>CON-0002</cbc:ID><cbc:AwardDate>2024-06-01+02:00"
        b"</cbc:AwardDate><efac:LotTender><cbc:ID>TEN-0002</cbc:ID></efac:LotTender>"
        b"</efac:SettledContract>"
    )
    return data.replace(parties, contract + parties, 1)


def test_several_winners_of_one_lot_are_summed_and_joined() -> None:
    won = read(two_winners())["LOT-0001"]
    assert (won.award_amount, won.award_currency) == (Decimal(185000 + 190000), "EUR")
    assert won.supplier_name == "Ristorazione Prova SpA; Cucine Esempio Srl; Perdente Srl"
    assert won.supplier_id == "IT-PIVA-00000000004; IT-PIVA-00000000003; ORG-0005"
    assert won.awarded_at == datetime(2024, 6, 1, tzinfo=CEST)  # the earliest decision
    assert read(two_winners())["LOT-0002"].supplier_name is None


def test_several_winners_in_several_currencies_have_no_award_amount() -> None:
    won = read(two_winners().replace(b'"EUR">190000<', b'"CHF">190000<'))["LOT-0001"]
    assert won.supplier_name == "Ristorazione Prova SpA; Cucine Esempio Srl; Perdente Srl"
    assert (won.award_amount, won.award_currency) == (None, None)


def test_pin_used_as_call_for_competition_maps_its_only_deadline() -> None:
    lots = read_fixture("pin-cfc_2lots.xml")
    assert {record.status for record in lots.values()} == {"active"}
    # expression-of-interest deadline (BT-630), a date alone without offset: end of day, Berlin
    assert lots["LOT-0001"].deadline_at == datetime(2024, 9, 30, 23, 59, 59, tzinfo=BERLIN)
    # request-to-participate deadline (BT-1311)
    assert lots["LOT-0002"].deadline_at == datetime(2024, 10, 15, 10, 0, tzinfo=CEST)
    assert lots["LOT-0001"].buyer_name == "Stadtwerke Musterstadt"


# --- joint procurement -----------------------------------------------------------------------


def test_several_buyers_are_joined_and_the_lead_buyer_gives_the_id() -> None:
    data = (EFORMS / "cn_2lots_ita.xml").read_bytes()
    party = (
        b"<cac:ContractingParty><cac:Party><cac:PartyIdentification>"
        b'<cbc:ID schemeName="organization">ORG-0002</cbc:ID>'
        b"</cac:PartyIdentification></cac:Party></cac:ContractingParty>"
    )
    data = data.replace(b"<cac:TenderingProcess>", party + b"<cac:TenderingProcess>", 1)
    first = read(data)["LOT-0001"]
    assert first.buyer_name == "Comune di Paeseprova; Tribunale di prova"
    assert first.buyer_id == "IT-CF-00000000001"  # no lead named: the first buyer
    company = data.rindex(b"<efac:Organization>", 0, data.index(b"ORG-0002"))
    flag = b"<efbc:GroupLeadIndicator>true</efbc:GroupLeadIndicator>"
    lead = data[: company + 19] + flag + data[company + 19 :]
    assert lead != data
    first = read(lead)["LOT-0001"]
    assert first.buyer_name == "Tribunale di prova; Comune di Paeseprova"
    assert first.buyer_id == "ORG-0002"  # the lead buyer (no company id: its ORG id)


# --- item 6: the eForms SDK examples (../shared/data/eforms) ---------------------------------


def test_every_sample_notice_is_a_publication_of_its_own() -> None:
    samples = require_shared_data("eforms")
    keys: dict[str, str] = {}
    for path in sorted(samples.glob("*.xml")):
        lots = read(path.read_bytes())
        assert lots, path.name
        [key] = {record.document_key for record in lots.values()}
        assert key is not None
        keys[path.name] = key
        raw = next(iter(lots.values())).raw
        again = map_publication("eforms", orjson.loads(orjson.dumps(raw)), source_url=None)
        assert [r.hashed_fields() for r in again if isinstance(r, TenderRecord)] == [
            r.hashed_fields() for r in lots.values()
        ]
    assert len(set(keys.values())) == len(keys)
    # the change notice names the notice it changes by the same id + version
    changed = read((samples / "change-cn_24_open_dates.xml").read_bytes())["LOT-0000"]
    assert changed.raw is not None
    assert changed.raw["changed_notice_id"] == keys["cn_24_open.xml"]


def test_sample_award_notices_state_no_deadline_or_estimate_they_do_not_give() -> None:
    samples = require_shared_data("eforms")
    for name in ("can_25_ITA.xml", "veat_24.xml", "can-modif_24_value.xml"):
        for record in read((samples / name).read_bytes()).values():
            assert record.deadline_at is None, name
            assert record.supplier_name, name
    [veat] = read((samples / "veat_24.xml").read_bytes()).values()
    assert (veat.award_amount, veat.award_currency) == (Decimal(350000), "EUR")  # the total
    for name in ("cn_24_open.xml", "cn_24_cumbria.xml", "cn_81_FRA.xml", "pin-only_24_lots.xml"):
        for record in read((samples / name).read_bytes()).values():
            assert [getattr(record, f) for f in AWARD_FIELDS] == [None] * 5, name
