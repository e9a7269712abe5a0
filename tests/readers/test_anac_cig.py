"""ANAC CIG readers: bulk CSV, flattened detail CSV and detail JSON (hand-made fixtures and the
real Messina samples in ../shared/data/anac)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from src.domain.tender.schemas import RejectedRecord, TenderRecord
from src.infra.streams import SourceEncodingError
from src.readers.anac_cig import SourceFormatError, read_cig_csv, read_cig_json
from src.readers.items import ReadItem
from src.readers.limits import ReadLimits
from tests.support.paths import require_shared_data

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "anac"
ROME = ZoneInfo("Europe/Rome")


def split(items: list[ReadItem]) -> tuple[list[TenderRecord], list[RejectedRecord]]:
    records = [item for item in items if isinstance(item, TenderRecord)]
    rejected = [item for item in items if isinstance(item, RejectedRecord)]
    assert len(records) + len(rejected) == len(items)
    return records, rejected


def read_csv_fixture(name: str = "cig_bulk_sample.csv", **kwargs: object) -> list[ReadItem]:
    with (FIXTURES / name).open("rb") as stream:
        return list(read_cig_csv(stream, **kwargs))  # type: ignore[arg-type]


def by_cig(records: list[TenderRecord]) -> dict[str, TenderRecord]:
    return {record.cig or "": record for record in records}


# --- bulk CSV -----------------------------------------------------------------------------


def test_bulk_csv_records_and_rejections() -> None:
    records, rejected = split(read_csv_fixture(source_url="file:///cig.csv"))
    assert [r.cig for r in records] == [
        "9000001A0B", "9000002B1C", "9000003C2D", "Z0A1B2C3D4", "900000404F", "9000005E4F",
    ]  # fmt: skip
    # physical lines: the SmartCIG's quoted subject spans lines 5-6, so the next row is line 7
    assert [r.position for r in records] == [
        "line 2", "line 3", "line 4", "line 5", "line 8", "line 9",
    ]  # fmt: skip
    assert {(r.position, r.reason) for r in rejected} == {
        (
            "line 7",
            "invalid CIG '12345': expected 10 characters, 7 digits + 3 hex (standard), "
            "V-Z + 9 hex (SmartCIG) or A-U + 9 hex (column CIG)",
        ),
        ("line 10", "row has 3 fields but the header has 17"),
    }
    for record in records:
        assert (record.source, record.format, record.currency in (None, "EUR")) == (
            "anac", "anac_csv", True,
        )  # fmt: skip
        assert record.lot_id == record.cig
        assert record.identity_key == f"anac:{record.cig}"
        assert record.source_url == "file:///cig.csv"


def test_bulk_csv_mapping() -> None:
    records = by_cig(split(read_csv_fixture())[0])
    first = records["9000001A0B"]
    assert first.title == "Lotto 1 - zona nord"
    assert first.description == "Manutenzione strade comunali"
    assert first.procedure_id == "7700001"
    assert (first.buyer_name, first.buyer_id) == ("COMUNE DI ESEMPIO", "00000000001")
    assert first.amount == Decimal("150000.5")
    assert first.published_at == datetime(2024, 3, 1, tzinfo=ROME)
    # a date-only deadline is the end of that day in Rome; a publication date its start
    assert first.deadline_at == datetime(2024, 4, 15, 23, 59, 59, tzinfo=ROME)
    # the latest change date: data_ultimo_perfezionamento after data_pubblicazione
    assert first.source_updated_at == datetime(2024, 3, 20, tzinfo=ROME)
    # raw keeps the original header names (and the unknown column)
    assert first.raw is not None
    assert first.raw["CIG"] == "9000001A0B"
    assert first.raw["colonna_sconosciuta"] == "x"
    assert first.raw["Oggetto_Gara"] == "Manutenzione strade comunali"


def test_bulk_csv_normalisation() -> None:
    records = by_cig(split(read_csv_fixture())[0])
    # mixed-case enumerations give one value
    assert records["9000001A0B"].procedure_type == "procedura aperta"
    assert records["9000002B1C"].procedure_type == "procedura aperta"
    assert records["Z0A1B2C3D4"].procedure_type == "affidamento diretto"
    assert records["900000404F"].procedure_type == "affidamento diretto"
    # CPV with and without its check digit
    assert records["9000001A0B"].cpv == "45000000-7"
    assert records["9000002B1C"].cpv == "45000000"
    # a lower-case CIG with spaces around it
    assert records["900000404F"].cig == "900000404F"
    assert records["900000404F"].raw == records["900000404F"].raw | {"CIG": " 900000404f "}
    # NUL characters are removed, in the record and in raw
    assert records["9000003C2D"].buyer_name == "ISTITUTO DI PROVA"
    assert "\x00" not in json.dumps(records["9000003C2D"].raw)


def test_bulk_csv_empty_values_and_fallbacks() -> None:
    records = by_cig(split(read_csv_fixture())[0])
    second = records["9000002B1C"]  # empty deadline, no importo_lotto in a 2-lot procedure
    assert second.deadline_at is None
    assert second.amount is None
    assert second.currency is None
    assert second.status == "active"
    smart = records["Z0A1B2C3D4"]  # SmartCIG: no numero_gara, no oggetto_lotto, one lot
    assert smart.procedure_id == "Z0A1B2C3D4"
    assert smart.title == "Fornitura di\ncancelleria; toner"
    assert smart.description is None
    assert smart.amount == Decimal("3900")  # importo_complessivo_gara of a 1-lot procedure
    assert records["900000404F"].amount == Decimal("12000")


def test_bulk_csv_status() -> None:
    records = by_cig(split(read_csv_fixture())[0])
    assert records["9000003C2D"].status == "cancelled"  # data_cancellazione set
    assert records["9000003C2D"].source_updated_at == datetime(2024, 2, 10, tzinfo=ROME)
    # From the data only, never from the clock: a passed deadline is not a status change.
    assert records["9000001A0B"].status == "active"
    assert records["900000404F"].status == "active"


def test_stato_cancellato_any_case() -> None:
    data = "cig;oggetto_gara;stato\n9000001A0B;Servizio;Cancellato\n9000002B1C;Servizio;ATTIVO\n"
    records = split(list(read_cig_csv(io.BytesIO(data.encode()))))[0]
    assert [r.status for r in records] == ["cancelled", "active"]


def test_column_order_and_extra_columns_do_not_matter() -> None:
    text = (FIXTURES / "cig_bulk_sample.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    width = len(rows[0])
    order = list(reversed(range(width)))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    for row in rows:
        if len(row) == width:
            writer.writerow([*(row[i] for i in order), "extra"])
    shuffled = split(list(read_cig_csv(io.BytesIO(out.getvalue().encode()))))[0]
    original = split(read_csv_fixture())[0]
    assert [r.hashed_fields() for r in shuffled] == [r.hashed_fields() for r in original]


def test_comma_separated_detail_columns_are_sniffed() -> None:
    data = (
        "_link,bando_CIG,bando_NUMERO_GARA,bando_OGGETTO_GARA,bando_TIPO_CIG,bando_STATO,"
        "stazione_appaltante_DENOMINAZIONE_AMMINISTRAZIONE_APPALTANTE,"
        "pubblicazioni_DATA_PUBBLICAZIONE,bando_IMPORTO_LOTTO\n"
        '0,9000001A0B,7700001,"Lavori, stradali",Ordinario,ATTIVO,COMUNE,2024-03-01,"1000.5"\n'
    )
    (record,) = split(list(read_cig_csv(io.BytesIO(data.encode()))))[0]
    assert (record.cig, record.procedure_id, record.title) == (
        "9000001A0B", "7700001", "Lavori, stradali",
    )  # fmt: skip
    assert (record.buyer_name, record.amount) == ("COMUNE", Decimal("1000.5"))
    assert record.raw is not None
    assert record.raw["_normalized"] == {"tipo_cig": "ordinario"}


def test_missing_cig_and_missing_title_are_rejections() -> None:
    data = "cig;oggetto_gara;oggetto_lotto\n;Servizio;\n9000001A0B;;\n"
    rejected = split(list(read_cig_csv(io.BytesIO(data.encode()))))[1]
    assert [(r.position, r.reason) for r in rejected] == [
        ("line 2", "missing CIG (column cig)"),
        ("line 3", "CIG 9000001A0B: no title (oggetto_lotto and oggetto_gara are empty); "
                   "title: String should have at least 1 character"),
    ]  # fmt: skip


def test_source_without_cig_column_fails_clearly() -> None:
    with pytest.raises(SourceFormatError, match="no CIG column"):
        list(read_cig_csv(io.BytesIO(b"codice;oggetto\n1;x\n")))


def test_empty_source_gives_nothing() -> None:
    assert list(read_cig_csv(io.BytesIO(b""))) == []
    assert list(read_cig_json(io.BytesIO(b"  \n"))) == []


# --- quotes that do not close -----------------------------------------------------------

QUOTED_HEADER = "CIG;numero_gara;oggetto_lotto;importo_lotto;data_pubblicazione\n"


def quoted_rows(rows: int, subjects: dict[int, str]) -> bytes:
    """A bulk CSV of `rows` rows (row i on line i + 2), with the subjects given by row."""
    lines = [
        f"{9000000 + i:07d}A0B;77{i};{subjects.get(i, f'Lotto {i} - fornitura di carta')};"
        "1000,00;2024-03-01\n"
        for i in range(rows)
    ]
    return (QUOTED_HEADER + "".join(lines)).encode()


def cigs(rows: int, *, skip: int) -> set[str]:
    return {f"{9000000 + i:07d}A0B" for i in range(rows) if i != skip}


@pytest.mark.parametrize(
    "max_record_lines", [100, 1_000_000], ids=["line-limit", "csv-field-size-limit"]
)
def test_an_unclosed_quote_costs_only_its_own_line(max_record_lines: int) -> None:
    """A quote that never closes once made one rejection of 1,306 rows; now its line alone
    is rejected and every other row is read, whichever limit finds it."""
    data = quoted_rows(1400, {50: '"Fornitura di carta A4'})
    items = list(read_cig_csv(io.BytesIO(data), max_record_lines=max_record_lines))
    records, rejected = split(items)
    assert {r.cig for r in records} == cigs(1400, skip=50)
    [bad] = rejected
    assert bad.position == "line 52" and bad.snippet is not None
    assert bad.snippet.startswith('9000050A0B;7750;"Fornitura')
    assert "a quoted field opened on line 52" in bad.reason
    assert "line 52 is rejected and reading goes on at line 53" in bad.reason
    assert [r.position for r in records[50:52]] == ["line 53", "line 54"]


def test_a_quote_closed_rows_later_does_not_swallow_them_silently() -> None:
    """Closed three rows later, the stray quote made one record of the right width whose
    subject held three other rows: they were lost without a rejection."""
    data = quoted_rows(100, {10: '"Fornitura', 13: 'Lotto 13 - "fornitura" di carta'})
    records, rejected = split(list(read_cig_csv(io.BytesIO(data))))
    assert {r.cig for r in records} == cigs(100, skip=10)
    [bad] = rejected
    assert bad.position == "line 12"
    assert "is not closed before line 13, which is a record" in bad.reason
    assert by_cig(records)["9000013A0B"].title == 'Lotto 13 - "fornitura" di carta'


def test_a_quoted_field_over_several_lines_is_one_record_within_the_limit() -> None:
    subject = '"Fornitura di carta:\nA4 e A3;\nrisme da 500 fogli"'
    data = quoted_rows(5, {2: subject})
    records, rejected = split(list(read_cig_csv(io.BytesIO(data))))
    assert rejected == [] and len(records) == 5
    assert [r.position for r in records] == ["line 2", "line 3", "line 4", "line 7", "line 8"]
    over = list(read_cig_csv(io.BytesIO(data), max_record_lines=2))
    records, rejected = split(over)
    assert {r.cig for r in records} == cigs(5, skip=2)
    assert [r.position for r in rejected] == ["line 4", "line 5", "line 6"]  # line by line
    assert "runs over more than 2 lines" in rejected[0].reason


# --- encodings ----------------------------------------------------------------------------


def test_cp1252_source_is_refused_with_its_position() -> None:
    data = (FIXTURES / "cig_bulk_cp1252.csv").read_bytes()
    offset = data.index(b"\x92")
    with pytest.raises(SourceEncodingError) as caught:
        read_csv_fixture("cig_bulk_cp1252.csv")
    message = str(caught.value)
    assert f"invalid byte 0x92 at line 3, byte offset {offset}" in message
    assert "ANAC publishes UTF-8" in message
    assert 'encoding="cp1252"' in message


def test_cp1252_source_with_its_encoding() -> None:
    records = split(read_csv_fixture("cig_bulk_cp1252.csv", encoding="cp1252"))[0]
    assert [r.title for r in records] == [
        "Lavori di manutenzione della scuola",
        "Riqualificazione dell\u2019area verde e attività di città",
    ]
    assert records[1].buyer_name == "COMUNITÀ MONTANA DI PROVA"
    assert {r.procedure_type for r in records} == {"procedura aperta"}


def test_encoding_error_position_past_the_first_chunks() -> None:
    row = "9000001A0B;Servizio di manutenzione àèìòù\n"
    rows = 3000  # > 64 KiB, and the multi-byte letters fall across chunk boundaries
    data = ("cig;oggetto_gara\n" + row * rows).encode() + b"9000002B1C;caff\xe8\n"
    with pytest.raises(SourceEncodingError) as caught:
        list(read_cig_csv(io.BytesIO(data)))
    assert f"at line {rows + 2}, byte offset {len(data) - 2}" in str(caught.value)
    valid = data[:-2] + b"\n"
    assert len(split(list(read_cig_csv(io.BytesIO(valid))))[0]) == rows + 1


def test_truncated_utf8_at_the_end() -> None:
    data = "cig;oggetto_gara\n9000001A0B;caffè".encode()[:-1]
    with pytest.raises(SourceEncodingError, match=r"at line 2, byte offset 32"):
        list(read_cig_csv(io.BytesIO(data)))


def test_invalid_utf8_in_json() -> None:
    data = b'[{"bando": {"CIG": "9000001A0B", "OGGETTO_GARA": "caff\xe8"}}]'
    with pytest.raises(SourceEncodingError) as caught:
        list(read_cig_json(io.BytesIO(data)))
    offset = data.index(b"\xe8")
    assert f"invalid byte 0xe8 at line 1, byte offset {offset}" in str(caught.value)
    (record,) = read_cig_json(io.BytesIO(data), encoding="latin-1")
    assert isinstance(record, TenderRecord)
    assert record.title == "caffè"


# --- detail JSON --------------------------------------------------------------------------


def read_json_fixture() -> list[ReadItem]:
    with (FIXTURES / "cig_detail_sample.json").open("rb") as stream:
        return list(read_cig_json(stream, source_url="https://example.org/cig"))


def test_detail_json() -> None:
    records, rejected = split(read_json_fixture())
    assert rejected == []
    assert [(r.cig, r.position, r.format) for r in records] == [
        ("9000001A0B", "item 1", "anac_json"),
        ("9000007A1B", "item 2", "anac_json"),
        ("Z0A1B2C3D4", "item 3", "anac_json"),
    ]
    first, second, smart = records
    assert first.cpv == "45000000-7"  # the prevalent CPV, not the first one
    assert first.title == "LOTTO 1 - ZONA NORD"
    assert first.description == "MANUTENZIONE STRADE COMUNALI"
    assert (first.buyer_name, first.buyer_id) == ("COMUNE  DI ESEMPIO", "00000000001")
    assert first.amount == Decimal("150000.5")
    assert isinstance(first.amount, Decimal)
    assert first.published_at == datetime(2024, 3, 2, tzinfo=ROME)
    assert first.status == "active"
    assert first.raw is not None
    assert first.raw["bando"]["IMPORTO_LOTTO"] == Decimal("150000.50")
    assert second.description is None  # OGGETTO_GARA == OGGETTO_LOTTO
    assert second.status == "active"  # its deadline passed, but no outcome was published
    assert second.source_updated_at == datetime(2024, 3, 5, tzinfo=ROME)  # DETTAGLIO_STATO
    assert smart.status == "cancelled"
    assert smart.cpv is None
    assert smart.deadline_at is None
    normalized = [r.raw["_normalized"]["tipo_cig"] for r in records if r.raw]
    assert normalized == ["ordinario", "ordinario", "smartcig"]
    assert {r.procedure_type for r in records[:2]} == {"procedura aperta"}


def test_detail_json_lines_and_single_object() -> None:
    objects = json.loads((FIXTURES / "cig_detail_sample.json").read_text())
    lines = "\n".join(json.dumps(o) for o in objects).encode()
    array = split(read_json_fixture())[0]
    jsonl = split(list(read_cig_json(io.BytesIO(lines))))[0]
    assert [r.hashed_fields() | {"source_url": None} for r in jsonl] == [
        r.hashed_fields() | {"source_url": None} for r in array
    ]
    (single,) = read_cig_json(io.BytesIO(json.dumps(objects[2]).encode()))
    assert isinstance(single, TenderRecord)
    assert single.cig == "Z0A1B2C3D4"


def test_detail_json_bad_items() -> None:
    data = b'[1, {"bando": {"CIG": "BAD", "OGGETTO_GARA": "x"}}, {"bando": {"CIG": "9000001A0B"'
    items = read_cig_json(io.BytesIO(data))
    assert [(r.position, r.reason) for r in (next(items), next(items))] == [  # type: ignore[union-attr]
        ("item 1", "item is not a JSON object"),
        ("item 2", "invalid CIG 'BAD': expected 10 characters, 7 digits + 3 hex (standard), "
                   "V-Z + 9 hex (SmartCIG) or A-U + 9 hex (column bando_cig)"),
    ]  # fmt: skip
    with pytest.raises(SourceFormatError, match="invalid JSON after item 2"):
        next(items)


def test_detail_json_lines_a_broken_line_costs_only_itself() -> None:
    """JSON Lines are read line by line: a line that is not JSON, one too large, one that is
    not an object, each is a rejection with its line, and every line after it is read. (Read
    as one stream of values, the first break ended the source.)"""
    objects = json.loads((FIXTURES / "cig_detail_sample.json").read_text())
    good = [json.dumps(o).encode() for o in objects]
    lines = [good[0], b'{"bando": {"CIG": "9000', b"", good[1], b'"text"', b"x" * 5000, good[2]]
    items = list(
        read_cig_json(
            io.BytesIO(b"\n".join(lines) + b"\n"), limits=ReadLimits(max_object_bytes=4096)
        )
    )
    records, rejected = split(items)
    assert [(r.cig, r.position) for r in records] == [
        ("9000001A0B", "line 1"), ("9000007A1B", "line 4"), ("Z0A1B2C3D4", "line 7"),
    ]  # fmt: skip
    assert [r.position for r in rejected] == ["line 2", "line 5", "line 6"]
    assert "is not valid JSON" in rejected[0].reason
    assert rejected[1].reason == "item is not a JSON object"
    assert "larger than 4096 bytes" in rejected[2].reason


def test_detail_json_lines_of_a_chunk_are_numbered_as_the_file() -> None:
    objects = json.loads((FIXTURES / "cig_detail_sample.json").read_text())
    data = b"".join(json.dumps(o).encode() + b"\n" for o in objects)
    limits = ReadLimits()
    limits.hints.json_lines, limits.hints.first_line = True, 301
    positions = [r.position for r in read_cig_json(io.BytesIO(data), limits=limits)]
    assert positions == ["line 301", "line 302", "line 303"]


def test_csv_and_json_of_one_cig_agree() -> None:
    csv_record = by_cig(split(read_csv_fixture())[0])["9000001A0B"]
    json_record = split(read_json_fixture())[0][0]
    for field in ("cig", "procedure_id", "lot_id", "cpv", "procedure_type", "amount", "status"):
        assert getattr(csv_record, field) == getattr(json_record, field), field
    assert csv_record.identity_key == json_record.identity_key


# --- the real Messina samples ---------------------------------------------------------------


def shared(name: str) -> Path:
    return require_shared_data("anac", name)


def real_csv() -> list[ReadItem]:
    with shared("anac_cig_detail_messina_flattened.csv").open("rb") as stream:
        return list(read_cig_csv(stream))


def real_json() -> list[ReadItem]:
    with shared("anac_cig_detail_messina_no_personal_data.json").open("rb") as stream:
        return list(read_cig_json(stream))


def test_real_flattened_csv_gives_60_records() -> None:
    records, rejected = split(real_csv())
    assert [(r.position, r.reason) for r in rejected] == []
    assert len(records) == 60
    assert len({r.cig for r in records}) == 60
    assert records[0].position == "line 2"
    assert records[-1].position == "line 61"
    assert sum(r.cig.startswith("Z") for r in records if r.cig) == 10  # SmartCIGs
    assert all(r.title and r.buyer_id and r.published_at for r in records)
    assert all(r.cpv is None for r in records)  # the CPVs are in a separate file (bando_CPV.csv)


def test_real_json_gives_the_same_cigs() -> None:
    csv_records = split(real_csv())[0]
    json_records, rejected = split(real_json())
    assert rejected == []
    assert [r.cig for r in json_records] == [r.cig for r in csv_records]
    assert sum(r.cpv is not None for r in json_records) == 50  # SmartCIGs have no CPV
    for a, b in zip(csv_records, json_records, strict=True):
        differing = {k for k, v in a.hashed_fields().items() if b.hashed_fields()[k] != v}
        assert differing <= {"cpv"}, (a.cig, differing)


def test_real_enumerations_normalise() -> None:
    for records in (split(real_csv())[0], split(real_json())[0]):
        tipo_cig = Counter(r.raw["_normalized"]["tipo_cig"] for r in records if r.raw)
        assert tipo_cig == {"ordinario": 50, "smartcig": 10}  # ORDINARIO x48 + Ordinario x2
        types = Counter(r.procedure_type for r in records)
        assert types["procedura aperta"] == 18  # PROCEDURA APERTA x16 + Procedura aperta x2
        assert all(t == t.lower() for t in types if t)


def test_real_cancellato_rows_are_cancelled() -> None:
    for records in (split(real_csv())[0], split(real_json())[0]):
        cancelled = {r.cig for r in records if r.status == "cancelled"}
        stato = {r.cig for r in records if r.raw and "CANCELLATO" in json.dumps(r.raw, default=str)}
        assert cancelled == stato == {"Z1339083C3"}
        assert {r.status for r in records} <= {"active", "complete", "cancelled"}


# --- one bad field never drops a tender; dates in Rome ----------------------------------------


def test_a_bad_secondary_field_is_left_empty_with_a_warning() -> None:
    data = (
        "cig;oggetto_lotto;importo_lotto;data_pubblicazione;data_scadenza_offerta;"
        "data_cancellazione\n"
        "9000001A0B;Lavori;n.d.;31/02/2024;15/04/2024;2024-13-01\n"
    )
    (record,) = split(list(read_cig_csv(io.BytesIO(data.encode()))))[0]
    assert (record.cig, record.title) == ("9000001A0B", "Lavori")
    assert record.amount is None and record.currency is None
    assert record.published_at is None
    assert record.status == "active"  # the unreadable cancellation date says nothing
    assert record.deadline_at == datetime(2024, 4, 15, 23, 59, 59, tzinfo=ROME)
    assert [(w.field, w.problem, w.raw) for w in record.warnings] == [
        ("published_at", "data_pubblicazione: invalid date '31/02/2024'", "31/02/2024"),
        ("source_updated_at", "data_cancellazione: invalid date '2024-13-01'", "2024-13-01"),
        ("amount", "importo_lotto: invalid amount 'n.d.'", "n.d."),
    ]


def test_the_invalid_date_row_of_the_fixture_is_kept() -> None:
    records = by_cig(split(read_csv_fixture())[0])
    kept = records["9000005E4F"]
    assert kept.published_at is None
    assert [(w.field, w.raw) for w in kept.warnings] == [("published_at", "2024-13-45")]
    assert records["9000001A0B"].warnings == []


def test_anac_dates_are_italian_and_date_only_deadlines_end_the_day() -> None:
    data = (
        "cig;oggetto_lotto;data_pubblicazione;data_scadenza_offerta\n"
        "9000001A0B;A;2024-07-01;2024-07-15\n"  # summer: +02:00
        "9000002B1C;B;2024-01-10;2024-01-31T12:00:00\n"  # a time without a zone: Rome
        "9000003C2D;C;01/02/2024;28/02/2024\n"  # dd/mm/yyyy
        "9000006F5A;D;2024-03-01T08:00:00Z;2024-03-20T10:00:00+01:00\n"  # offsets kept
    )
    records = by_cig(split(list(read_cig_csv(io.BytesIO(data.encode()))))[0])
    summer = records["9000001A0B"]
    assert summer.published_at == datetime(2024, 7, 1, tzinfo=ROME)
    assert summer.deadline_at == datetime(2024, 7, 15, 23, 59, 59, tzinfo=ROME)
    assert summer.deadline_at.utcoffset() is not None
    assert summer.deadline_at.isoformat() == "2024-07-15T23:59:59+02:00"
    assert records["9000002B1C"].deadline_at == datetime(2024, 1, 31, 12, tzinfo=ROME)
    italian = records["9000003C2D"]
    assert italian.published_at == datetime(2024, 2, 1, tzinfo=ROME)
    assert italian.deadline_at == datetime(2024, 2, 28, 23, 59, 59, tzinfo=ROME)
    offsets = records["9000006F5A"]
    assert offsets.published_at is not None and offsets.deadline_at is not None
    assert offsets.published_at.isoformat() == "2024-03-01T08:00:00+00:00"
    assert offsets.deadline_at.isoformat() == "2024-03-20T10:00:00+01:00"


def test_detail_json_bad_amount_and_date_are_warnings() -> None:
    item = {
        "bando": {"CIG": "9000001A0B", "OGGETTO_LOTTO": "Lotto", "IMPORTO_LOTTO": "n.d.",
                  "DATA_SCADENZA_OFFERTA": "31/02/2024"},
        "pubblicazioni": {"DATA_PUBBLICAZIONE": "2024-03-02"},
    }  # fmt: skip
    (record,) = read_cig_json(io.BytesIO(json.dumps(item).encode()))
    assert isinstance(record, TenderRecord)
    assert (record.amount, record.deadline_at) == (None, None)
    assert record.published_at == datetime(2024, 3, 2, tzinfo=ROME)
    assert {(w.field, w.raw) for w in record.warnings} == {
        ("amount", "n.d."), ("deadline_at", "31/02/2024"),
    }  # fmt: skip
