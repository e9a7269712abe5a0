"""The eForms reader over hand-made fixtures and the eForms SDK example notices."""

from __future__ import annotations

import io
import re
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from src.domain.tender.schemas import RejectedRecord, TenderRecord
from src.readers import eforms, eforms_awards, eforms_xml
from src.readers.eforms import read_eforms
from src.readers.items import ReadItem
from src.readers.registry import map_publication
from tests.support.big_documents import award_notice, lot_cpv
from tests.support.paths import SHARED_DATA, require_shared_data

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eforms"
SAMPLES = SHARED_DATA / "eforms"
CET = timezone(timedelta(hours=1))
CEST = timezone(timedelta(hours=2))
FOLDER = "00000000-fold-4000-a000-0000000000aa"


def read_bytes(data: bytes, **kwargs: str) -> list[ReadItem]:
    return list(read_eforms(io.BytesIO(data), **kwargs))


def read_file(path: Path, **kwargs: str) -> list[ReadItem]:
    with path.open("rb") as stream:
        return list(read_eforms(stream, **kwargs))


def records(items: list[ReadItem]) -> list[TenderRecord]:
    assert all(isinstance(item, TenderRecord | RejectedRecord) for item in items)
    return [item for item in items if isinstance(item, TenderRecord)]


def rejections(items: list[ReadItem]) -> list[RejectedRecord]:
    return [item for item in items if isinstance(item, RejectedRecord)]


def by_lot(items: list[ReadItem]) -> dict[str | None, TenderRecord]:
    return {record.lot_id: record for record in records(items)}


# --- hand-made fixtures ---------------------------------------------------------------------


def test_contract_notice_one_record_per_lot_in_the_notice_language() -> None:
    items = read_file(FIXTURES / "cn_2lots_ita.xml")
    assert rejections(items) == []
    lots = by_lot(items)
    assert list(lots) == ["LOT-0001", "LOT-0002"]  # the lot group GLO-0001 is not a lot
    first, second = lots["LOT-0001"], lots["LOT-0002"]
    for record in (first, second):
        assert record.source == "ted"
        assert record.format == "eforms"
        assert record.procedure_id == FOLDER
        assert record.identity_key == f"ted:{FOLDER}:{record.lot_id}"
        assert record.status == "active"
        assert record.procedure_type == "open"
        assert record.buyer_name == "Comune di Paeseprova"  # ITA name, not the ENG one first
        assert record.buyer_id == "IT-CF-00000000001"
        assert record.published_at == datetime(2024, 3, 1, 9, 30, tzinfo=CET)
        assert record.source_updated_at == record.published_at
        assert record.cig is None
    assert first.title == "Lotto 1: mensa scolastica"
    assert first.description == "Preparazione e consegna dei pasti scolastici."
    assert first.cpv == "55524000"
    assert (first.amount, first.currency) == (Decimal("200000.50"), "EUR")
    assert first.deadline_at == datetime(2024, 4, 15, 12, 0, tzinfo=CEST)
    assert first.position == "/ContractNotice/ProcurementProjectLot[2]"
    # lot 2: no description / CPV of its own -> the procedure's; no procedure amount (2 lots)
    assert second.title == "Lotto 2: pulizia"
    assert second.description is not None
    assert second.description.startswith("Affidamento")
    assert second.cpv == "55500000"
    assert (second.amount, second.currency) == (None, None)
    # a date without a time: the end of that day in the date's offset
    assert second.deadline_at == datetime(2024, 4, 20, 23, 59, 59, tzinfo=CEST)
    assert second.position == "/ContractNotice/ProcurementProjectLot[3]"


def test_text_is_read_whole_across_comments_and_processing_instructions() -> None:
    data = (FIXTURES / "cn_2lots_ita.xml").read_bytes()
    for old, new in [
        (b">Lotto 1: mensa scolastica<", b">Lotto 1: <!-- ed. 2 -->mensa <?pi x?>scolastica<"),
        (b">Preparazione e consegna", b"><![CDATA[Preparazione]]> <!-- c -->e consegna"),
        (b">200000.50<", b">200<!-- migliaia -->000.50<"),
        (b'"Lot">LOT-0002<', b'"Lot">LOT-<!-- c -->0002<'),
    ]:
        assert data.count(old) == 1
        data = data.replace(old, new)
    lots = by_lot(read_bytes(data))
    assert list(lots) == ["LOT-0001", "LOT-0002"]
    first = lots["LOT-0001"]
    assert first.title == "Lotto 1: mensa scolastica"
    assert first.description == "Preparazione e consegna dei pasti scolastici."
    assert first.amount == Decimal("200000.50")


def test_raw_is_one_json_able_dict_for_the_whole_notice() -> None:
    first, second = records(read_file(FIXTURES / "cn_2lots_ita.xml"))
    assert first.raw is second.raw
    assert first.raw is not None
    assert first.raw["notice_id"] == "00000000-test-4000-a000-000000000001"
    assert first.raw["notice_type"] == "cn-standard"
    assert first.raw["subtype"] == "16"
    assert first.raw["language"] == "ITA"
    assert first.raw["xml"].lstrip().startswith("<?xml")
    assert "Lotto 2: pulizia" in first.raw["xml"]
    assert orjson.loads(orjson.dumps(first.raw)) == first.raw
    assert "raw" not in first.model_dump()


@pytest.mark.parametrize("encoding", ["iso-8859-1", "utf-16", "cp1252"])
def test_a_stored_notice_not_in_utf8_maps_again_to_the_same_records(encoding: str) -> None:
    text = (FIXTURES / "cn_2lots_ita.xml").read_text(encoding="utf-8")
    text = text.replace('encoding="UTF-8"', f"encoding='{encoding}'", 1)
    text = text.replace("Lotto 2: pulizia", "Lotto 2: pulizia dell'università", 1)
    read = records(read_bytes(text.encode(encoding)))
    stored = read[0].raw
    assert stored is not None and stored["xml"].startswith("<?xml version=\"1.0\" encoding='UTF-8'")
    again = map_publication("eforms", orjson.loads(orjson.dumps(stored)), source_url=None)
    assert [r.hashed_fields() for r in records(again)] == [r.hashed_fields() for r in read]
    assert read[1].title == "Lotto 2: pulizia dell'università"
    assert all(r.raw == stored for r in records(again))  # the same publication, unchanged
    # as stored by the earlier reader: the text still declaring the notice's own encoding
    old = {**stored, "xml": text}
    assert [r.title for r in records(map_publication("eforms", old, source_url=None))] == [
        r.title for r in read
    ]


def test_given_position_and_source_url_are_kept() -> None:
    items = read_file(
        FIXTURES / "cn_2lots_ita.xml",
        position="batch.zip/cn.xml",
        source_url="https://example.org/cn.xml",
    )
    record = by_lot(items)["LOT-0001"]
    assert record.position == "batch.zip/cn.xml /ContractNotice/ProcurementProjectLot[2]"
    assert record.source_url == "https://example.org/cn.xml"


def test_change_notice_updates_the_same_lots_later() -> None:
    before = by_lot(read_file(FIXTURES / "cn_2lots_ita.xml"))
    after = by_lot(read_file(FIXTURES / "change-cn_2lots_ita.xml"))
    assert after.keys() == before.keys()
    for lot_id, record in after.items():
        earlier = before[lot_id]
        assert record.identity_key == earlier.identity_key
        assert record.source_updated_at is not None
        assert earlier.source_updated_at is not None
        assert record.source_updated_at > earlier.source_updated_at
        assert record.status == "active"
    assert after["LOT-0001"].deadline_at == before["LOT-0001"].deadline_at
    assert after["LOT-0002"].deadline_at == datetime(2024, 5, 6, 12, 0, tzinfo=CEST)
    assert after["LOT-0002"].content_hash() != before["LOT-0002"].content_hash()
    raw = after["LOT-0002"].raw
    assert raw is not None
    assert raw["changed_notice_id"] == "00000000-test-4000-a000-000000000001-01"


def test_change_notice_that_cancels_the_notice() -> None:
    data = (FIXTURES / "change-cn_2lots_ita.xml").read_bytes()
    data = data.replace(b">update-add<", b">cancel<")
    assert {record.status for record in records(read_bytes(data))} == {"cancelled"}


def test_award_notice_follows_the_references_to_the_winner() -> None:
    items = read_file(FIXTURES / "can_2lots_ita.xml")
    assert rejections(items) == []
    lots = by_lot(items)
    won, closed = lots["LOT-0001"], lots["LOT-0002"]
    assert won.procedure_id == FOLDER
    assert won.status == "complete"
    # TEN-0002 (rank 2, 190000) is listed in the result but has no contract: not a winner
    assert (won.award_amount, won.award_currency) == (Decimal("185000"), "EUR")
    assert won.supplier_name == "Ristorazione Prova SpA; Cucine Esempio Srl"  # group lead first
    assert won.supplier_id == "IT-PIVA-00000000004; IT-PIVA-00000000003"
    assert won.awarded_at == datetime(2024, 6, 3, tzinfo=CEST)
    assert won.published_at == datetime(2024, 6, 25, 10, 0, tzinfo=CEST)
    assert closed.status == "unsuccessful"
    assert (closed.award_amount, closed.supplier_name, closed.awarded_at) == (None, None, None)


def test_an_award_notice_of_many_lots_reads_each_result_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every lot used to rescan every result, tender, contract and party: 4,000 lots took
    266 s. Counted in element reads, not timed: a bounded number per lot."""
    lots = 200
    reads = 0

    def counted(node: Any, path: str) -> str | None:
        nonlocal reads
        reads += 1
        return eforms_xml.text(node, path)

    monkeypatch.setattr(eforms, "_text", counted)
    monkeypatch.setattr(eforms_awards, "_text", counted)
    mapped = by_lot(read_bytes(award_notice(lots)))
    assert list(mapped) == [f"LOT-{i:04d}" for i in range(1, lots + 1)]
    for i, record in enumerate(mapped.values(), 1):
        assert (record.award_amount, record.supplier_name) == (Decimal(1000 + i), f"Impresa {i}")
        assert (record.status, record.cpv) == ("complete", lot_cpv(i)[:8])
    assert reads <= 30 * lots  # was over 800 a lot


def test_a_currency_written_as_a_name_is_the_code() -> None:
    data = (FIXTURES / "cn_2lots_ita.xml").read_bytes()
    data = data.replace(b'currencyID="EUR">200000.50', b'currencyID="EURO">200000.50')
    first = by_lot(read_bytes(data))["LOT-0001"]
    assert (first.amount, first.currency, first.warnings) == (Decimal("200000.50"), "EUR", [])


@pytest.mark.parametrize(
    ("old", "new", "field", "raw", "kept"),
    [
        # a currency the record refuses: the amount stays, the currency is empty
        (b'"EUR">200000.50', b'"EURX">200000.50', "currency", "EURX", "amount"),
        (b">200000.50<", b">duecentomila<", "amount", "duecentomila", None),
        (b">200000.50<", b">1e20<", "amount", "1e20", None),  # out of range
        (b"2024-04-15+02:00", b"15/04/2024", "deadline_at", "15/04/2024 12:00:00+02:00", "amount"),
    ],
)
def test_one_bad_field_keeps_the_lot_with_a_warning(
    old: bytes, new: bytes, field: str, raw: str, kept: str | None
) -> None:
    data = (FIXTURES / "cn_2lots_ita.xml").read_bytes()
    assert data.count(old) == 1
    items = read_bytes(data.replace(old, new), position="cn.xml")
    assert rejections(items) == []
    first, second = records(items)
    assert getattr(first, field) is None
    [warning] = first.warnings
    assert warning.field == field
    assert warning.raw == raw
    if kept is not None:
        assert getattr(first, kept) is not None
    assert first.title == "Lotto 1: mensa scolastica"
    assert second.warnings == []


def test_an_unreadable_issue_date_is_a_warning_on_every_lot() -> None:
    data = (FIXTURES / "cn_2lots_ita.xml").read_bytes()
    data = data.replace(b"<cbc:IssueDate>2024-03-01+01:00<", b"<cbc:IssueDate>01/03/2024<")
    items = read_bytes(data)
    assert rejections(items) == []
    for record in records(items):
        assert (record.published_at, record.source_updated_at) == (None, None)
        assert [w.field for w in record.warnings] == ["published_at", "source_updated_at"]
        assert record.warnings[0].raw == "01/03/2024 09:30:00+01:00"
        assert "invalid date" in record.warnings[0].problem
        assert record.deadline_at is not None


def test_a_bad_award_date_or_amount_keeps_the_award() -> None:
    data = (FIXTURES / "can_2lots_ita.xml").read_bytes()
    data = data.replace(b"<cbc:AwardDate>2024-06-03+02:00<", b"<cbc:AwardDate>3 giugno<")
    data = data.replace(b'"EUR">185000</cbc:PayableAmount>', b'"EUR">n.d.</cbc:PayableAmount>')
    won = by_lot(read_bytes(data))["LOT-0001"]
    assert (won.status, won.supplier_name) == (
        "complete",
        "Ristorazione Prova SpA; Cucine Esempio Srl",
    )
    assert (won.awarded_at, won.award_amount, won.award_currency) == (None, None, None)
    assert {(w.field, w.raw) for w in won.warnings} == {
        ("awarded_at", "3 giugno"),
        ("award_amount", "n.d."),
    }


def test_notice_without_lots_gives_one_record_and_falls_back_to_the_notice_id() -> None:
    data = (FIXTURES / "cn_2lots_ita.xml").read_text(encoding="utf-8")
    data = re.sub(
        r"<cac:ProcurementProjectLot>.*?</cac:ProcurementProjectLot>", "", data, flags=re.S
    )
    data = re.sub(r"<cbc:ContractFolderID>.*?</cbc:ContractFolderID>", "", data)
    [record] = records(read_bytes(data.encode()))
    assert record.lot_id is None
    assert record.procedure_id == "00000000-test-4000-a000-000000000001"
    assert record.title == "Servizi di mensa scolastica e pulizia"
    assert (record.amount, record.currency) == (Decimal("300000"), "EUR")  # procedure value
    assert record.position == "/ContractNotice"


def test_title_comes_from_the_description_when_there_is_no_name() -> None:
    data = (FIXTURES / "cn_2lots_ita.xml").read_text(encoding="utf-8")
    data = re.sub(
        r"<cbc:Name languageID=\"(ITA|ENG)\">(Lot|Servizi|School)[^<]*</cbc:Name>", "", data
    )
    lots = by_lot(read_bytes(data.encode()))
    assert lots["LOT-0001"].title == "Preparazione e consegna dei pasti scolastici."


@pytest.mark.parametrize("name", ["xxe.xml", "billion_laughs.xml"])
def test_dtd_and_entities_are_refused_fast(name: str) -> None:
    started = time.perf_counter()
    items = read_file(FIXTURES / name, position=name)
    assert time.perf_counter() - started < 1
    [rejected] = items
    assert isinstance(rejected, RejectedRecord)
    assert "DTD/entity declarations are not allowed" in rejected.reason
    assert rejected.position == name
    assert "root:" not in (rejected.snippet or "")


def test_parser_itself_never_resolves_entities(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the DOCTYPE pre-check, the hardened parser still reads nothing from disk and
    does not expand entities; the document is refused all the same."""
    monkeypatch.setattr(eforms, "_DOCTYPE", ())
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    xxe = (
        (FIXTURES / "xxe.xml").read_bytes().replace(b"file:///etc/passwd", secret.as_uri().encode())
    )
    for data in (xxe, (FIXTURES / "billion_laughs.xml").read_bytes()):
        started = time.perf_counter()
        [rejected] = read_bytes(data)
        assert time.perf_counter() - started < 1
        assert isinstance(rejected, RejectedRecord)
        assert "TOP-SECRET-MARKER" not in rejected.reason + (rejected.snippet or "")
        assert "lollollol" not in rejected.reason + (rejected.snippet or "")


def test_not_xml_is_a_rejection() -> None:
    [rejected] = read_file(FIXTURES / "not_xml.txt", position="not_xml.txt")
    assert isinstance(rejected, RejectedRecord)
    assert rejected.reason.startswith("not well-formed XML: ")
    assert rejected.snippet is not None
    assert rejected.snippet.startswith("notice_id;title")
    [empty] = read_bytes(b"")
    assert isinstance(empty, RejectedRecord)
    assert empty.reason.startswith("not well-formed XML: ")


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (
            b'<BusinessRegistrationInformationNotice xmlns="urn:oasis:names:specification:ubl:'
            b'schema:xsd:BusinessRegistrationInformationNotice-2"/>',
            "unsupported eForms document BusinessRegistrationInformationNotice",
        ),
        (b"<ContractNotice/>", "not a UBL eForms notice"),
        (
            b'<ContractNotice xmlns="urn:oasis:names:specification:ubl:schema:xsd:'
            b'ContractNotice-2"/>',
            "without ContractFolderID nor notice id",
        ),
    ],
)
def test_unmappable_documents_are_rejections(document: bytes, reason: str) -> None:
    [rejected] = read_bytes(document)
    assert isinstance(rejected, RejectedRecord)
    assert reason in rejected.reason


def test_oversized_notice_is_a_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eforms, "MAX_NOTICE_BYTES", 100)
    [rejected] = read_file(FIXTURES / "cn_2lots_ita.xml")
    assert isinstance(rejected, RejectedRecord)
    assert "larger than 100 bytes" in rejected.reason


# --- eForms SDK example notices (../shared/data/eforms) -----------------------------------


@pytest.fixture(scope="module")
def samples() -> Path:
    samples = require_shared_data("eforms")
    assert any(samples.glob("*.xml")), f"no eForms sample notices in {samples}"
    return samples


def _sample_files() -> list[str]:
    return sorted(path.name for path in SAMPLES.glob("*")) if SAMPLES.is_dir() else []


@pytest.mark.parametrize("name", _sample_files() or ["<no samples>"])
def test_every_sample_file_reads_without_exception(samples: Path, name: str) -> None:
    items = read_file(samples / name, position=name)
    assert items
    if name.endswith(".xml"):  # every SDK example here is mappable
        assert rejections(items) == []
        for record in records(items):
            assert record.source == "ted"
            assert record.format == "eforms"
            assert record.published_at is not None
            assert record.published_at.tzinfo is not None
            assert record.position is not None
            assert record.position.startswith(name)
    else:
        assert all(isinstance(item, RejectedRecord) for item in items)


def test_samples_cover_every_notice_type(samples: Path) -> None:
    seen: dict[str, int] = {}
    for path in samples.glob("*.xml"):
        for record in records(read_file(path)):
            assert record.raw is not None
            seen[record.raw["notice_type"]] = seen.get(record.raw["notice_type"], 0) + 1
    assert {"cn-standard", "can-standard", "can-modif", "pin-only", "veat"} <= seen.keys()


def test_sample_change_notice_moves_the_deadline(samples: Path) -> None:
    [original] = records(read_file(samples / "cn_24_open.xml"))
    [changed] = records(read_file(samples / "change-cn_24_open_dates.xml"))
    assert changed.identity_key == original.identity_key
    assert original.deadline_at == datetime(2020, 4, 3, 12, 0, tzinfo=CET)
    assert changed.deadline_at == datetime(2020, 6, 12, 12, 0, tzinfo=CET)
    assert original.source_updated_at is not None
    assert changed.source_updated_at is not None
    assert changed.source_updated_at > original.source_updated_at
    assert original.buyer_name == "Renfrewshire Council"
    assert (original.amount, original.currency) == (Decimal("500000"), "EUR")
    assert original.cpv == "71630000"


def test_sample_maximal_has_two_lots_and_a_group(samples: Path) -> None:
    """cn_24_maximal has three ProcurementProjectLot entries: GLO-0001 (a lot group, not a
    lot), LOT-0001 and LOT-0002."""
    items = read_file(samples / "cn_24_maximal.xml")
    lots = by_lot(items)
    assert list(lots) == ["LOT-0001", "LOT-0002"]
    assert lots["LOT-0002"].title == "Title Lot 2---"
    assert lots["LOT-0001"].procedure_type == "neg-w-call"
    # only a request-to-participate deadline is published: it is the deadline
    assert lots["LOT-0001"].deadline_at == datetime(2023, 5, 22, 20, 59, 32, tzinfo=CET)
    assert lots["LOT-0001"].raw is lots["LOT-0002"].raw


def test_sample_italian_award(samples: Path) -> None:
    [record] = records(read_file(samples / "can_25_ITA.xml"))
    assert record.title is not None
    assert record.title.startswith("Servizio di prove funzionali")
    assert record.status == "complete"
    assert record.buyer_name == "Rete Ferroviaria italiana"
    assert record.supplier_name == "Trenitalia SpA"
    assert (record.award_amount, record.award_currency) == (Decimal("4000000"), "EUR")
    assert record.awarded_at == datetime(2020, 4, 2, tzinfo=CEST)
    assert record.procedure_type == "neg-wo-call"


def test_sample_uk_award(samples: Path) -> None:
    [record] = records(read_file(samples / "can_24_UKRI.xml"))
    assert record.supplier_name == "Ramboll UK Ltd"
    assert record.supplier_id == "ID222222"
    assert (record.award_amount, record.award_currency) == (Decimal("60000000"), "GBP")
    assert record.awarded_at == datetime(2020, 4, 9, tzinfo=CEST)  # contract conclusion date


def test_sample_pin_without_folder_id(samples: Path) -> None:
    [record] = records(read_file(samples / "pin-only_24_lots.xml"))  # 10 parts, no lots
    assert record.lot_id is None
    assert record.procedure_id == "199b243b-4daf-4d7d-ba7c-f37f88102480"
    assert record.status == "planned"
    assert record.title is not None
    assert "\x8d" not in record.title
