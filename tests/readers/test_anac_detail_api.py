"""ANAC's per-CIG detail as the portal API returns it: `result[0].data` rows whose sections
are JSON strings inside JSON, plus a `template` row (a hand-made fixture in that shape, and the
real response for CIG 918052266A in ../shared/data/anac)."""

from __future__ import annotations

import io
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from src.domain.formats import Format
from src.domain.tender.schemas import RejectedRecord, TenderRecord
from src.readers.anac_cig import read_cig_json
from src.readers.limits import ReadLimits
from src.readers.registry import detect_format, map_publication
from tests.support.paths import require_shared_data

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "anac"
ROME = ZoneInfo("Europe/Rome")


def read(data: bytes, **kwargs: Any) -> list[TenderRecord | RejectedRecord]:
    return list(read_cig_json(io.BytesIO(data), **kwargs))


def fixture() -> bytes:
    return (FIXTURES / "cig_detail_api_raw.json").read_bytes()


def test_api_response_is_detected_as_anac_json() -> None:
    assert detect_format(io.BytesIO(fixture())) == Format.ANAC_JSON


def test_api_response_gives_one_tender_with_award_and_budget() -> None:
    (record,) = read(fixture())  # the template row is not a tender
    assert isinstance(record, TenderRecord)
    assert (record.cig, record.identity_key, record.format) == (
        "9000008B2C", "anac:9000008B2C", "anac_json",
    )  # fmt: skip
    assert record.position == "item 1 result 1 row 1"
    assert record.procedure_id == "7700008"
    assert record.title == "LOTTO 2 - COLLAUDI SUD"
    assert record.description == "ACCORDO QUADRO PER SERVIZI DI COLLAUDO"
    assert (record.buyer_name, record.buyer_id) == ("AGENZIA DI ESEMPIO S.P.A.", "00000000009")
    assert record.cpv == "71315400-3"
    # no IMPORTO_LOTTO in a 3-lot procedure: the budget's auction base (services + safety)
    assert (record.amount, record.currency) == (Decimal("300000"), "EUR")
    assert record.published_at == datetime(2022, 4, 11, tzinfo=ROME)
    assert record.deadline_at == datetime(2022, 5, 26, 23, 59, 59, tzinfo=ROME)
    assert record.status == "complete"  # DATA_COMUNICAZIONE_ESITO
    # the latest definitive award, its winners lead member first; the loser left out
    assert (record.award_amount, record.award_currency) == (Decimal("240000.5"), "EUR")
    assert record.awarded_at == datetime(2022, 11, 10, tzinfo=ROME)
    assert record.supplier_name == "CAPOGRUPPO SPA; MANDANTE UNO SRL"
    assert record.supplier_id == "00000000102; 00000000101"
    assert record.source_updated_at == datetime(2023, 7, 7, tzinfo=ROME)
    assert record.warnings == []
    # stored decoded (nested sections), without the template row
    assert record.raw is not None
    assert record.raw["bando"]["CIG"] == "9000008B2C"
    assert record.raw["partecipanti"][0]["DENOMINAZIONE"] == "MANDANTE UNO SRL"
    assert "template" not in record.raw


def test_stored_api_document_maps_the_same_again() -> None:
    (record,) = read(fixture())
    assert isinstance(record, TenderRecord)
    stored = json.loads(json.dumps(record.raw, default=str))
    (again,) = map_publication("anac_json", stored, source_url=None)
    assert isinstance(again, TenderRecord)
    assert again.hashed_fields() == record.hashed_fields()


def test_api_response_in_an_array_and_as_json_lines() -> None:
    document = json.loads(fixture())
    lines = (json.dumps(document) + "\n" + json.dumps(document) + "\n").encode()
    assert [r.position for r in read(lines)] == ["line 1 result 1 row 1", "line 2 result 1 row 1"]
    array = json.dumps([document]).encode()
    assert [r.position for r in read(array)] == ["item 1 result 1 row 1"]


def _response(**sections: Any) -> bytes:
    row = {"template": "N/A", **sections}
    return json.dumps({"result": [{"data": [row]}]}).encode()


def test_bad_award_amount_is_a_field_warning() -> None:
    bando = json.dumps({"CIG": "9000008B2C", "OGGETTO_LOTTO": "Lotto"})
    award = json.dumps([{"ID_AGGIUDICAZIONE": 1, "IMPORTO_AGGIUDICAZIONE": "n.d."}])
    (record,) = read(_response(bando=bando, aggiudicazione=award))
    assert isinstance(record, TenderRecord)
    assert record.award_amount is None and record.award_currency is None
    assert [(w.field, w.raw) for w in record.warnings] == [("award_amount", "n.d.")]


def test_hostile_inner_strings_cost_their_row() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    items = read(_response(bando=json.dumps({"CIG": "9000008B2C"}), partecipanti=deep))
    assert [type(i).__name__ for i in items] == ["RejectedRecord"]
    assert isinstance(items[0], RejectedRecord)
    assert "section partecipanti is nested deeper than" in items[0].reason
    huge = '{"CIG": "9000008B2C", "OGGETTO_LOTTO": "x", "N": 1e999999}'
    (number,) = read(_response(bando=huge))
    assert isinstance(number, RejectedRecord) and "beyond the range" in number.reason
    broken = read(_response(bando='{"CIG": "9000008B2C"}, {"x": 1'))
    assert isinstance(broken[0], RejectedRecord) and "section bando is not" in broken[0].reason
    limits = ReadLimits(max_json_depth=4)
    nested = json.dumps({"CIG": "9000008B2C", "a": {"b": {"c": {"d": {}}}}})
    (limited,) = read(_response(bando=nested), limits=limits)
    assert isinstance(limited, RejectedRecord) and "MAX_JSON_DEPTH" in limited.reason


def test_response_without_a_cig_row_is_a_rejection() -> None:
    template = json.dumps({"result": [{"data": [{"template": "{}", "bando": "N/A"}]}]})
    (rejected,) = read(template.encode())
    assert isinstance(rejected, RejectedRecord)
    assert rejected.reason.startswith("the response has no CIG row")


def test_real_api_response_of_cig_918052266a() -> None:
    path = require_shared_data("anac", "anac_cig_detail_api_raw_918052266A.json")
    assert detect_format(io.BytesIO(path.read_bytes())) == Format.ANAC_JSON
    (record,) = read(path.read_bytes())
    assert isinstance(record, TenderRecord)
    assert (record.cig, record.procedure_id) == ("918052266A", "8519126")
    assert record.buyer_id == "05678721001"
    assert (record.amount, record.cpv, record.status) == (
        Decimal("3987864.4"), "71315400-3", "complete",
    )  # fmt: skip
    assert record.award_amount == Decimal("3424983.95")
    assert record.awarded_at == datetime(2022, 11, 10, tzinfo=ROME)
    # two temporary groupings, both flagged with the award, each lead member first
    assert record.supplier_name == (
        "ING. ANTONINO LENSI; GAMI ENGINEERING SRL; STUDIO TECNICO ROSATO INGEGNERI ASSOCIATI; "
        "EN.CO. & PARTNERS; FEDERICO MURRONE"
    )
    assert record.supplier_id is not None and record.supplier_id.startswith("LNSNNN55P12D643B; ")
    assert record.deadline_at == datetime(2022, 5, 26, 23, 59, 59, tzinfo=ROME)
    assert record.warnings == []
