"""ANAC's per-CIG detail as its portal API (dati.anticorruzione.it, a chart-data response)
returns it: `{"result": [{"data": [rows], "colnames": [...], ...}]}`, where each row holds one
section per column (stazione_appaltante, bando, pubblicazioni, partecipanti, aggiudicazione,
quadro_economico, ...) written as a JSON string inside the JSON, plus a `template` row that
describes the columns and holds "N/A" everywhere else.

A CIG row is decoded into the nested form of the detail service (`{"bando": {...},
"stazione_appaltante": {...}, ...}`), which is what is stored and mapped (`anac_json`); the
template row is not a tender and is left out. Each inner string is parsed through the same
guards as any JSON document (depth, numbers, size: `ReadLimits`), so a hostile section costs
its row, as a rejection.

The award of a detail (the API form, or a nested object that carries the same sections):
the latest definitive award (DATA_AGGIUDICAZIONE_DEFINITIVA; undated ones rank by amount, the
largest first), its amount and date; its suppliers are the participants flagged with that
award (FLAG_AGGIUDICATARIO), group by group, the lead member (mandataria) first, names and
fiscal codes joined with "; ".
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import ijson

from src.readers.anac_values import amount, joined, take_column, timestamp
from src.readers.common import clean_text
from src.readers.fields import FieldWarnings
from src.readers.json_values import iter_json_values
from src.readers.limits import ReadLimits

_NOT_AVAILABLE = ("", "N/A")
# The parts of the budget (quadro economico) the auction base is made of.
_BUDGET_PARTS = ("IMPORTO_LAVORI", "IMPORTO_SERVIZI", "IMPORTO_FORNITURE",
                 "IMPORTO_PROGETTAZIONE", "IMPORTO_SICUREZZA")  # fmt: skip


def is_api_response(item: Mapping[str, Any]) -> bool:
    result = item.get("result")
    return isinstance(result, list) and any(
        isinstance(part, Mapping) and isinstance(part.get("data"), list) for part in result
    )


def api_documents(
    item: Mapping[str, Any], limits: ReadLimits
) -> Iterator[tuple[str, dict[str, Any] | str]]:
    """(where, the row's nested document) for every CIG row of the response, or (where, why
    not) for a row that cannot be read; nothing for the template row."""
    found = False
    for result_index, part in enumerate(item.get("result") or [], 1):
        rows = part.get("data") if isinstance(part, Mapping) else None
        for row_index, row in enumerate(rows if isinstance(rows, list) else [], 1):
            where = f"result {result_index} row {row_index}"
            if not isinstance(row, Mapping):
                yield where, "the row is not a JSON object"
                continue
            if _absent(row.get("bando")):
                continue  # the template row: a description of the columns
            found = True
            yield where, _decoded(row, limits)
    if not found:
        yield "result", "the response has no CIG row (result[].data holds no bando section)"


def _absent(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in _NOT_AVAILABLE)


def _decoded(row: Mapping[str, Any], limits: ReadLimits) -> dict[str, Any] | str:
    document: dict[str, Any] = {}
    for name, section in row.items():
        if name == "template" or _absent(section):
            continue
        if not isinstance(section, str):
            document[name] = section  # already decoded
            continue
        try:
            document[name] = _inner_json(section, limits)
        except ValueError as error:
            return f"section {name} {error}"
    return document


def _inner_json(text: str, limits: ReadLimits) -> Any:
    """One JSON value written as a string, through the JSON guards. It is read as the member
    of an object (a top-level array would be read item by item), so it cannot be two values
    or close that object early without being refused."""
    wrapped = b'{"section":' + text.encode() + b"}"
    values = iter_json_values(io.BytesIO(wrapped), limits, use_float=False)
    try:
        found = list(values)
    except ijson.JSONError as error:
        raise ValueError(f"is not JSON: {error}") from None
    if len(found) != 1 or (found[0].problem is None and not isinstance(found[0].data, dict)):
        raise ValueError("is not one JSON value")
    if found[0].problem is not None:
        raise ValueError(limits.reason(found[0].problem))
    return found[0].data["section"]


def _get(obj: Mapping[str, Any], name: str) -> Any:
    """A member by its upper-case name (the API's), or lower-case."""
    value = obj.get(name)
    return obj.get(name.lower()) if value is None else value


def _objects(value: object) -> list[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return [value]
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _section(document: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    return _objects(_get(document, name.upper()))


def award_fields(document: Mapping[str, Any], warnings: FieldWarnings) -> dict[str, Any]:
    """The award columns of a nested detail (empty when it has no `aggiudicazione`)."""
    awards = _section(document, "aggiudicazione")
    if not awards:
        return {}
    # the latest; among equally dated (or undated) ones the largest, then the first
    _, chosen = max(
        enumerate(awards), key=lambda pair: (_date_key(pair[1]), _amount_key(pair[1]), -pair[0])
    )
    award_amount = take_column(
        warnings, "award_amount", "aggiudicazione.IMPORTO_AGGIUDICAZIONE",
        amount, _get(chosen, "IMPORTO_AGGIUDICAZIONE"),
    )  # fmt: skip
    awarded_at = take_column(
        warnings, "awarded_at", "aggiudicazione.DATA_AGGIUDICAZIONE_DEFINITIVA",
        timestamp, _get(chosen, "DATA_AGGIUDICAZIONE_DEFINITIVA"),
    )  # fmt: skip
    names, ids = _winners(document, _get(chosen, "ID_AGGIUDICAZIONE"))
    return {
        "award_amount": award_amount,
        "award_currency": "EUR" if award_amount is not None else None,
        "awarded_at": awarded_at,
        "supplier_name": joined(names),
        "supplier_id": joined(ids),
    }


def _date_key(award: Mapping[str, Any]) -> str:
    return clean_text(_get(award, "DATA_AGGIUDICAZIONE_DEFINITIVA")) or ""


def _amount_key(award: Mapping[str, Any]) -> Decimal:
    try:
        return amount(_get(award, "IMPORTO_AGGIUDICAZIONE")) or Decimal(0)
    except ValueError:
        return Decimal(0)


def _winners(document: Mapping[str, Any], award_id: object) -> tuple[list[str], list[str]]:
    """Names and fiscal codes of the participants flagged with the award, lead members first
    within each group."""
    flagged = []
    for participant in _section(document, "partecipanti"):
        flag = clean_text(_get(participant, "FLAG_AGGIUDICATARIO"))
        if flag in (None, "0") or (award_id is not None and flag not in (str(award_id), "1")):
            continue
        group = clean_text(_get(participant, "COD_GRUPPO")) or ""
        lead = clean_text(_get(participant, "COD_RUOLO")) != "1"  # False (first) for the lead
        flagged.append(((group, lead), participant))
    flagged.sort(key=lambda pair: pair[0])
    names = [clean_text(_get(p, "DENOMINAZIONE")) or "" for _, p in flagged]
    ids = [clean_text(_get(p, "CODICE_FISCALE")) or "" for _, p in flagged]
    return names, ids


def budget_amount(section: object) -> Decimal | None:
    """The auction base of a budget (the quadro_economico section, event BASE_ASTA): the sum
    of its parts; None without one. Raises ValueError for a part that is not an amount."""
    for entry in _objects(section):
        if clean_text(_get(entry, "DESCRIZIONE_EVENTO")) == "BASE_ASTA":
            parts = [amount(_get(entry, part)) for part in _BUDGET_PARTS]
            known = [part for part in parts if part is not None]
            return sum(known, Decimal(0)) if known else None
    return None
