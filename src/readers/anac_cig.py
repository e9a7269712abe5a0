"""ANAC CIG readers: the monthly bulk `cig` CSV and the per-CIG "dettaglio" service (its JSON,
or the same flattened to comma-separated bando_/stazione_appaltante_/pubblicazioni_ columns).
One record per CIG (the identity, DESIGN.md), streamed in constant memory; columns are found by
name through `_ALIASES` (any case), never by position; a bad row becomes a `RejectedRecord`.

The detail service's JSON may also come as its portal API returns it (sections as JSON
strings, `anac_detail`): read as the nested form, with its award, winners and budget. Dates
without a zone are Italian; a date-only deadline is the end of that day, any other date-only
value its start (`anac_values`). Only a missing or invalid CIG, or no title, rejects a row: a
date or amount that cannot be read is left empty with a field warning.

The place of performance (`nuts`): the detail's LUOGO_NUTS when it is a NUTS code (any level:
"ITG13", "ITG1"), else the NUTS 3 region of its municipality's ISTAT code (luogo_istat /
LUOGO_ISTAT, "083048"; `istat_nuts`), the only place the bulk CSV gives. A value that is no
such code is no place (None, no warning: `nuts`).

Status (OCDS codes): `cancelled` when data_cancellazione is set or STATO is CANCELLATO (any
case); else `complete` once data_comunicazione_esito (the outcome) is set; else `active`. It
depends on the data only, never on the clock: re-reading the same row gives the same tender
(a passed deadline is visible as deadline_at, not as a status change nobody published).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Mapping
from typing import Any, BinaryIO

import ijson
from pydantic import ValidationError

from src.domain.tender.schemas import RejectedRecord
from src.infra.streams import Utf8Transcoder
from src.readers.anac_detail import api_documents, award_fields, budget_amount, is_api_response
from src.readers.anac_values import (
    amount,
    cpv_code,
    deadline,
    enum_text,
    take_column,
    timestamp,
)
from src.readers.common import (
    InvalidCig,
    ReadStream,
    clean_text,
    normalize_cig,
    validation_problems,
)
from src.readers.csv_records import DEFAULT_MAX_RECORD_LINES, CsvRecords
from src.readers.fields import FieldWarnings, build_record
from src.readers.istat_nuts import istat_nuts3
from src.readers.items import ReadItem
from src.readers.json_values import BrokenLine, JsonValue, positioned_values, without_nul
from src.readers.limits import ReadLimits
from src.readers.nuts import nuts_code

# The row's dates that say when ANAC last changed the CIG (the latest one wins).
_CHANGE_DATES = ("data_pubblicazione", "data_creazione", "data_cancellazione",
                 "data_ultimo_perfezionamento", "data_comunicazione_esito")  # fmt: skip
# Our field -> (the tender column it fills, how it is read). Dates without a zone are in
# Rome; a date-only deadline is the end of its day, any other date-only value its start.
_PARSED: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "data_pubblicazione": ("published_at", timestamp),
    "data_creazione": ("source_updated_at", timestamp),
    "data_cancellazione": ("source_updated_at", timestamp),
    "data_ultimo_perfezionamento": ("source_updated_at", timestamp),
    "data_comunicazione_esito": ("source_updated_at", timestamp),
    "data_scadenza_offerta": ("deadline_at", deadline),
    "importo_lotto": ("amount", amount),
    "importo_complessivo_gara": ("amount", amount),
}

# fmt: off
# Our field -> its names (lower case): the bulk CSV's first, then the detail service's (the
# flattened CSV's header, or the JSON's keys joined with "_" by `_flatten`).
_ALIASES: dict[str, tuple[str, ...]] = {
    "cig": ("cig", "bando_cig"),
    "numero_gara": ("numero_gara", "bando_numero_gara"),
    "oggetto_lotto": ("oggetto_lotto", "bando_oggetto_lotto"),
    "oggetto_gara": ("oggetto_gara", "bando_oggetto_gara"),
    "buyer_name": ("denominazione_amministrazione_appaltante",
                   "stazione_appaltante_denominazione_amministrazione_appaltante"),
    "buyer_id": ("cf_amministrazione_appaltante",
                 "stazione_appaltante_cf_amministrazione_appaltante"),
    "cod_cpv": ("cod_cpv", "bando_cpv_cod_cpv", "bando_cod_cpv"),
    "tipo_scelta_contraente": ("tipo_scelta_contraente", "bando_tipo_scelta_contraente"),
    "tipo_cig": ("tipo_cig", "bando_tipo_cig"),
    "stato": ("stato", "bando_stato"),
    "importo_lotto": ("importo_lotto", "bando_importo_lotto"),
    "importo_complessivo_gara": ("importo_complessivo_gara", "bando_importo_complessivo_gara"),
    "n_lotti_componenti": ("n_lotti_componenti", "bando_n_lotti_componenti"),
    "data_pubblicazione": ("data_pubblicazione", "pubblicazioni_data_pubblicazione"),
    "data_creazione": ("data_creazione", "pubblicazioni_data_creazione"),
    "data_scadenza_offerta": ("data_scadenza_offerta", "bando_data_scadenza_offerta"),
    "data_cancellazione": ("data_cancellazione", "bando_data_cancellazione"),
    "data_ultimo_perfezionamento": ("data_ultimo_perfezionamento",
                                    "bando_dettaglio_stato_data_ultimo_perfezionamento"),
    "data_comunicazione_esito": ("data_comunicazione_esito", "bando_data_comunicazione_esito"),
    "luogo_nuts": ("luogo_nuts", "bando_luogo_nuts"),
    "luogo_istat": ("luogo_istat", "bando_luogo_istat"),
}
# fmt: on


class SourceFormatError(ValueError):
    """The source is not an ANAC CIG CSV/JSON or PVL file at all (no CIG column, broken
    JSON)."""


def read_cig_csv(
    stream: BinaryIO,
    *,
    source_url: str | None = None,
    encoding: str = "utf-8",
    max_record_lines: int = DEFAULT_MAX_RECORD_LINES,
) -> ReadStream:
    """Rows of the bulk CIG CSV (`;`) or of the flattened detail CSV (`,`), sniffed from the
    header. `raw` is the row by its original header names; "line N" is where the row starts.
    `encoding` is for sources known not to be UTF-8. A quoted field may span at most
    `max_record_lines` lines and never a line that is a record itself (`CsvRecords`)."""
    text = io.TextIOWrapper(
        io.BufferedReader(Utf8Transcoder(stream, encoding)), encoding="utf-8", newline=""
    )
    header_line = text.readline()
    if not header_line.strip():
        return
    delimiter = ";" if header_line.count(";") >= header_line.count(",") else ","
    header = [name.strip() for name in next(csv.reader([header_line], delimiter=delimiter))]
    index_of = {name.lower(): i for i, name in reversed(list(enumerate(header)))}
    columns = {field: index_of[name] for field, name in _resolve(index_of).items()}
    if "cig" not in columns:
        raise SourceFormatError(
            f"no CIG column in the header (looked for {', '.join(_ALIASES['cig'])}); "
            f"is this an ANAC CIG CSV? header starts {header_line[:200]!r}"
        )

    def is_record(cells: list[str]) -> bool:
        return _fits(cells, len(header)) and _is_cig(cells[columns["cig"]])

    records = CsvRecords(text, delimiter, is_record=is_record, max_lines=max_record_lines)
    for record in records:
        row, position = record.cells, f"line {record.line}"
        if record.problem:
            yield RejectedRecord.of(record.problem, position, record.text)
            continue
        if not any(cell.strip() for cell in row):
            continue
        raw = {name: cell.replace("\x00", "") for name, cell in zip(header, row, strict=False)}
        if not _fits(row, len(header)):
            reason = f"row has {len(row)} fields but the header has {len(header)}"
            yield RejectedRecord.of(reason, position, delimiter.join(row))
            continue
        fields = {field: row[index] for field, index in columns.items()}
        names = {field: header[index] for field, index in columns.items()}
        yield _map(fields, names, raw, position, "anac_csv", source_url)


def _is_cig(value: str) -> bool:
    try:
        normalize_cig(value)
    except InvalidCig:
        return False
    return True


def _fits(row: list[str], width: int) -> bool:
    """A row of the header's width (empty cells beyond it are tolerated)."""
    return len(row) >= width and not any(cell.strip() for cell in row[width:])


def read_cig_json(
    stream: BinaryIO,
    *,
    source_url: str | None = None,
    encoding: str = "utf-8",
    limits: ReadLimits | None = None,
) -> ReadStream:
    """Objects of the CIG detail service: a JSON array, one object, or JSON Lines. Nested
    objects are read through their flattened names (bando_cig, ...); of a list (bando.CPV) the
    item with FLAG_PREVALENTE = 1 counts, else the first. Numbers are Decimal. An item past
    the limits (size, depth, a number out of range) is a rejection, not read. An item that is
    the portal API's response (`anac_detail`) gives one record per CIG row it holds."""
    limits = limits or ReadLimits()
    transcoder = Utf8Transcoder(stream, encoding)
    if not transcoder.first_byte():
        return
    last = "item 0"
    try:
        for position, value in positioned_values(transcoder, limits, use_float=False):
            last = position
            if isinstance(value, BrokenLine):
                yield RejectedRecord.of(value.reason, position, value.text)
            else:
                yield from _value_items(value, position, limits, source_url)
    except ijson.JSONError as error:
        raise SourceFormatError(f"invalid JSON after {last}: {error}") from error


def _value_items(
    value: JsonValue, position: str, limits: ReadLimits, source_url: str | None
) -> ReadStream:
    """The records of one JSON value (an item, or a line): a rejection when it could not be
    read or is not an object."""
    if value.problem is not None:
        yield RejectedRecord(reason=f"{position} {limits.reason(value.problem)}", position=position)
        return
    item = value.data
    if not isinstance(item, dict):
        yield RejectedRecord.of("item is not a JSON object", position, item)
        return
    item = without_nul(item)
    if is_api_response(item):
        yield from _api_records(item, position, limits, source_url)
    else:
        yield _map_detail(item, position, source_url)


def _api_records(
    item: dict[str, Any], position: str, limits: ReadLimits, source_url: str | None
) -> ReadStream:
    for where, document in api_documents(item, limits):
        if isinstance(document, str):
            yield RejectedRecord.of(document, f"{position} {where}", item)
        else:
            yield _map_detail(document, f"{position} {where}", source_url)


def _map_detail(document: dict[str, Any], position: str, source_url: str | None) -> ReadItem:
    flat = _flatten(document)
    columns = _resolve(flat)
    fields = {field: flat[name] for field, name in columns.items()}
    return _map(fields, columns, document, position, "anac_json", source_url)


def map_stored(
    raw: Mapping[str, Any],
    fmt: str,
    *,
    source_url: str | None = None,
) -> ReadItem:
    """A stored publication (a CSV row by its header names, or a detail JSON object) mapped
    again with the current mapping: what `tenders reprocess` does."""
    document = {key: value for key, value in raw.items() if key != "_normalized"}
    if fmt == "anac_json":
        return _map_detail(document, "stored", source_url)
    original = {key.lower(): key for key in document}
    names = {field: original[name] for field, name in _resolve(original).items()}
    fields = {field: document[name] for field, name in names.items()}
    return _map(fields, names, document, "stored", fmt, source_url)


def _resolve(available: Collection[str]) -> dict[str, str]:
    """Our field -> the (lower-case) name it has among `available`; the first alias wins."""
    return {f: name for f, names in _ALIASES.items() for name in names[::-1] if name in available}


def _flatten(item: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in item.items():
        name = f"{prefix}{key}".lower()
        if isinstance(value, list):
            objects = [v for v in value if isinstance(v, Mapping)]
            main = next((o for o in objects if str(o.get("FLAG_PREVALENTE")) == "1"), None)
            value = main or (objects[0] if objects else None)
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}_"))
        elif value is not None:
            flat[name] = value
    return flat


def _map(
    fields: Mapping[str, Any],
    names: Mapping[str, str],
    raw: dict[str, Any],
    position: str,
    fmt: str,
    source_url: str | None,
) -> ReadItem:
    """One row/object (our field -> value) to a TenderRecord, or a RejectedRecord. Only the
    CIG and the title reject it: a date or amount that cannot be read is left empty with a
    warning (`record.warnings`)."""
    try:
        cig = normalize_cig(clean_text(fields.get("cig")) or "")
    except InvalidCig as error:
        reason = "missing CIG" if not clean_text(fields.get("cig")) else str(error)
        return RejectedRecord.of(f"{reason} (column {names.get('cig', 'cig')})", position, raw)
    warnings = FieldWarnings()
    parsed: dict[str, Any] = {}
    for field, (column, parse) in _PARSED.items():
        name = names.get(field, field)
        parsed[field] = take_column(warnings, column, name, parse, fields.get(field))
    lot_amount = _lot_amount(fields, parsed, raw if fmt == "anac_json" else {}, warnings)
    title, description = _title_and_description(fields)
    changed = [d for d in (parsed[f] for f in _CHANGE_DATES) if d is not None]
    tipo_cig = enum_text(fields.get("tipo_cig"))
    raw = {**raw, "_normalized": {"tipo_cig": tipo_cig}} if tipo_cig else raw
    record = {
        "source": "anac",
        "format": fmt,
        "cig": cig,
        "procedure_id": clean_text(fields.get("numero_gara")) or cig,
        "lot_id": cig,
        "title": title or "",
        "description": description,
        "buyer_name": clean_text(fields.get("buyer_name")),
        "buyer_id": clean_text(fields.get("buyer_id")),
        "cpv": cpv_code(fields.get("cod_cpv")),
        "nuts": nuts_code(fields.get("luogo_nuts")) or istat_nuts3(fields.get("luogo_istat")),
        "procedure_type": enum_text(fields.get("tipo_scelta_contraente")),
        "status": _status(fields, parsed),
        "amount": lot_amount,
        "currency": "EUR" if lot_amount is not None else None,
        "published_at": parsed["data_pubblicazione"],
        "deadline_at": parsed["data_scadenza_offerta"],
        "source_url": source_url,
        "source_updated_at": max(changed) if changed else None,
        "raw": raw,
        "position": position,
        "document_key": cig,  # one document per CIG: stored as such, not per procedure
    }
    if fmt == "anac_json":
        record |= award_fields(raw, warnings)
    try:
        return build_record(record, warnings)
    except ValidationError as error:
        problems = validation_problems(error)
        if not title:
            problems = f"no title (oggetto_lotto and oggetto_gara are empty); {problems}"
        return RejectedRecord.of(f"CIG {cig}: {problems}", position, raw)


def _lot_amount(
    fields: Mapping[str, Any],
    parsed: dict[str, Any],
    document: Mapping[str, Any],
    warnings: FieldWarnings,
) -> Any:
    """importo_lotto; else importo_complessivo_gara of a one-lot procedure; else (the detail
    JSON) the auction base of its budget (quadro_economico)."""
    lot, total = parsed["importo_lotto"], parsed["importo_complessivo_gara"]
    lots = clean_text(fields.get("n_lotti_componenti"))
    if lot is None and lots is not None and lots.split(".")[0] == "1":
        lot = total  # the procedure's value is the lot's when it has one lot
    if lot is None and document.get("quadro_economico") is not None:
        budget = document["quadro_economico"]
        lot = take_column(warnings, "amount", "quadro_economico", budget_amount, budget)
    return lot


def _title_and_description(fields: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The lot's subject is the title; the procedure's subject is the description when it
    says something else."""
    lot_text = clean_text(fields.get("oggetto_lotto"))
    tender_text = clean_text(fields.get("oggetto_gara"))
    differs = lot_text and lot_text.split() != (tender_text or "").split()
    return lot_text or tender_text, tender_text if differs else None


def _status(fields: Mapping[str, Any], parsed: dict[str, Any]) -> str:
    stato = enum_text(fields.get("stato")) or ""
    if parsed["data_cancellazione"] is not None or stato.startswith("cancellat"):
        return "cancelled"
    if parsed["data_comunicazione_esito"] is not None:
        return "complete"  # the outcome (award or not) has been communicated
    return "active"
