"""ANAC "Pubblicità a Valore Legale" (PVL) notices: where Italian tenders are published since
2024 (pubblicitalegale.anticorruzione.it). A source is one notice, a JSON array of notices,
JSON Lines, or a wrapper object whose `records` (a capture) or `content` (an API page) holds
them. Each notice is stored on its own (document key `idAvviso`) and yields one tender per
lot: every `SEZ. C` item with a CIG, keyed by the CIG like every ANAC format (`anac:<CIG>`),
so PVL, ANAC OCDS and the CIG CSV/JSON of one CIG update one row.

A notice states only what it says: a correction (rettifica) or a modification notice is a
later version (its `source_updated_at`) and a field it leaves out is None, so the merge of the
notices of one CIG keeps the earlier value. A withdrawn/obscured notice (`oscurato`) removes
nothing: its lots say status `withdrawn` and nothing else (the title, which a record cannot
be without, is the notice's own text when it has one).

Dates (`anac_values.pvl_timestamp`): an offset is kept; `T00:00:00Z` and a date with an offset
but no time are date-only (a deadline is 23:59:59 that day in Rome, a publication the start of
the day); a `T23:59:00Z` deadline is 23:59 in Rome; no offset means Rome. A CPV is kept only
when given as a code: PVL usually gives its label, which stays in the stored notice. So is
the place of performance: a lot's `luogo_nuts` counts only when it is a NUTS code (`nuts`),
and its `luogo_istat` only when it is an ISTAT municipality code (`istat_nuts`); PVL mostly
writes names there ("Genova", "ITALIA", "GENOVA"), which stay in the stored notice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import ijson
from pydantic import ValidationError

from src.domain.tender.schemas import RejectedRecord, title_from_description
from src.infra.streams import Utf8Transcoder
from src.readers.anac_cig import SourceFormatError
from src.readers.anac_pvl_award import award_fields, lot_status
from src.readers.anac_values import (
    amount,
    cpv_code_or_none,
    enum_text,
    joined,
    pvl_timestamp,
    take_column,
)
from src.readers.common import InvalidCig, ReadStream, clean_text, normalize_cig
from src.readers.common import validation_problems as problems_of
from src.readers.fields import FieldWarnings, build_record
from src.readers.istat_nuts import istat_nuts3
from src.readers.items import ReadItem
from src.readers.json_values import BrokenLine, positioned_values
from src.readers.limits import ReadLimits
from src.readers.nuts import nuts_code

FORMAT = "anac_pvl"
_WRAPPER_KEYS = ("records", "content")
# A lot's deadline, the submission of offers first; then the notice's dataScadenza.
_DEADLINES = ("termine_ricezione", "termine_ricezione_offerte", "termine_presentazione_offerte",
              "termine_invito", "termine_manifestazione_interesse")  # fmt: skip
_AMOUNTS = ("valore_complessivo_stimato", "importo_lotto", "importo")
_MAX_TITLE = 2000


def read_pvl(
    stream: BinaryIO,
    *,
    source_url: str | None = None,
    encoding: str = "utf-8",
    limits: ReadLimits | None = None,
) -> ReadStream:
    """The lots of every notice in the source; "notice N" counts notices across it. A value
    past the limits (size, depth, a number out of range) is a rejection, not read; so is a
    line of JSON Lines that is not JSON (the lines after it are read)."""
    limits = limits or ReadLimits()
    transcoder = Utf8Transcoder(stream, encoding)
    if not transcoder.first_byte():
        return
    last, count = "item 0", 0
    try:
        for position, value in positioned_values(transcoder, limits, use_float=False):
            last = position
            if isinstance(value, BrokenLine):
                yield RejectedRecord.of(value.reason, position, value.text)
                continue
            if value.problem is not None:
                yield RejectedRecord(f"{position} {limits.reason(value.problem)}", position)
                continue
            notices = _notices(value.data)
            if notices is None:
                reason = "item is neither a PVL notice nor a list of notices (records, content)"
                yield RejectedRecord.of(reason, position, value.data)
                continue
            for notice in notices:
                count += 1
                yield from map_notice(notice, f"notice {count}", source_url)
    except ijson.JSONError as error:
        raise SourceFormatError(f"invalid JSON after {last}: {error}") from error


def _notices(data: Any) -> list[Any] | None:
    if not isinstance(data, dict):
        return None
    if "idAvviso" in data or "template" in data:
        return [data]
    for key in _WRAPPER_KEYS:
        if isinstance(data.get(key), list):
            return list(data[key])
    return None


@dataclass
class _Notice:
    """What a notice's templates say, gathered over all of them (a notice may carry one per
    language): metadata, buyers (SEZ. A), general data (SEZ. B), lots (SEZ. C items)."""

    metadata: dict[str, Any] = field(default_factory=dict)
    buyers: list[tuple[str | None, str | None]] = field(default_factory=list)
    general: dict[str, Any] = field(default_factory=dict)
    lots: list[Mapping[str, Any]] = field(default_factory=list)
    withdrawn: bool = False


def _objects(value: object) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (v for v in value if isinstance(v, Mapping))
    elif isinstance(value, Mapping):
        yield value


def _parts(notice: Mapping[str, Any]) -> _Notice:
    parts = _Notice(withdrawn=notice.get("oscurato") is True)
    for entry in _objects(notice.get("template")):
        parts.withdrawn |= entry.get("oscurato") is True
        template = entry.get("template")
        if not isinstance(template, Mapping):
            continue
        metadata = template.get("metadata")
        if isinstance(metadata, Mapping):
            parts.metadata = {**metadata, **{k: v for k, v in parts.metadata.items() if v}}
        for section in _objects(template.get("sections")):
            _add_section(parts, section)
    return parts


def _add_section(parts: _Notice, section: Mapping[str, Any]) -> None:
    name = str(section.get("name") or "").upper()
    fields = section.get("fields") if isinstance(section.get("fields"), Mapping) else {}
    assert isinstance(fields, Mapping)
    if name.startswith("SEZ. A"):
        buyers = [(s.get("denominazione_amministrazione"), s.get("codice_fiscale"))
                  for s in _objects(fields.get("soggetti_sa"))]  # fmt: skip
        if fields.get("denominazione_sa") or fields.get("codice_fiscale_sa"):
            buyers.insert(0, (fields.get("denominazione_sa"), fields.get("codice_fiscale_sa")))
        for name_value, fiscal_code in buyers:
            buyer = (clean_text(name_value), clean_text(fiscal_code))
            if buyer not in parts.buyers and any(buyer):
                parts.buyers.append(buyer)
    elif name.startswith("SEZ. B"):
        parts.general = {**fields, **parts.general}
    elif name.startswith("SEZ. C"):
        known = {clean_text(lot.get("cig")) for lot in parts.lots}
        for item in _objects(section.get("items")):
            cig = clean_text(item.get("cig"))
            if cig and cig not in known:
                parts.lots.append(item)
                known.add(cig)


def map_notice(notice: Any, position: str, source_url: str | None) -> list[ReadItem]:
    """The lots of one notice as records (a lot whose CIG is invalid as a rejection), or one
    rejection for a notice without a lot CIG. Also what `tenders reprocess` runs on a stored
    notice."""
    if not isinstance(notice, Mapping):
        return [RejectedRecord.of("PVL notice is not a JSON object", position, notice)]
    notice_id = clean_text(notice.get("idAvviso"))
    if not notice_id:
        return [RejectedRecord.of("PVL notice without idAvviso", position, notice)]
    parts = _parts(notice)
    if not parts.lots:
        reason = (
            f"PVL notice {notice_id} names no lot CIG (no cig in the items of its "
            "template sections 'SEZ. C')"
        )
        return [RejectedRecord.of(reason, position, notice)]
    return [
        _lot_record(notice, notice_id, parts, lot, f"{position} lot {number}", source_url)
        for number, lot in enumerate(parts.lots, 1)
    ]


def _lot_record(
    notice: Mapping[str, Any],
    notice_id: str,
    parts: _Notice,
    lot: Mapping[str, Any],
    position: str,
    source_url: str | None,
) -> ReadItem:
    try:
        cig = normalize_cig(clean_text(lot.get("cig")) or "")
    except InvalidCig as error:
        return RejectedRecord.of(f"PVL notice {notice_id}: {error}", position, lot)
    warnings = FieldWarnings()
    record: dict[str, Any] = {
        "source": "anac",
        "format": FORMAT,
        "cig": cig,
        "procedure_id": clean_text(notice.get("idAppalto")) or notice_id,
        "lot_id": cig,
        "source_url": source_url,
        "source_updated_at": _version_date(notice, warnings),
        "raw": notice,
        "position": position,
        "document_key": notice_id,  # every notice is stored on its own
    }
    title, description = _texts(parts, lot)
    if parts.withdrawn:
        record |= {"status": "withdrawn", "title": title or f"CIG {cig}"}
    else:
        record |= {"title": title or "", "description": description}
        record |= _stated(notice, parts, lot, warnings)
    try:
        return build_record(record, warnings)
    except ValidationError as error:
        reason = f"PVL notice {notice_id} CIG {cig}: {problems_of(error)}"
        return RejectedRecord.of(reason, position, lot)


def _version_date(notice: Mapping[str, Any], warnings: FieldWarnings) -> Any:
    """When this version was published: the correction's date, else the publication's, else
    the notice's creation."""
    for key in ("dataPubblicazioneRettifica", "dataPubblicazione", "dataCreazione"):
        found = take_column(warnings, "source_updated_at", key, pvl_timestamp, notice.get(key))
        if found is not None:
            return found
    return None


def _texts(parts: _Notice, lot: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Title: the notice's titolo, else the lot's description (as the CIG CSV's oggetto_lotto),
    else the notice's; the other texts, when they say something else, are the description."""
    titolo = clean_text(parts.metadata.get("titolo"))
    lot_text = clean_text(lot.get("descrizione"))
    notice_text = clean_text(parts.metadata.get("descrizione"))
    title = titolo or lot_text or notice_text
    if title and len(title) > _MAX_TITLE:
        title = title_from_description(title)
    rest = [t for t in (lot_text, notice_text) if t and t.split() != (title or "").split()]
    return title, "\n\n".join(dict.fromkeys(rest)) or None


def _stated(
    notice: Mapping[str, Any], parts: _Notice, lot: Mapping[str, Any], warnings: FieldWarnings
) -> dict[str, Any]:
    """The columns a (not withdrawn) notice states for one lot; the rest stay None."""
    amount_key = next((key for key in _AMOUNTS if lot.get(key) is not None), _AMOUNTS[0])
    estimate = take_column(warnings, "amount", amount_key, amount, lot.get(amount_key))
    deadline_key = _deadline_key(lot)
    deadline_raw = lot.get(deadline_key) if deadline_key else notice.get("dataScadenza")

    def deadline(value: Any) -> Any:
        return pvl_timestamp(value, end_of_day=True)

    deadline_at = take_column(
        warnings, "deadline_at", deadline_key or "dataScadenza", deadline, deadline_raw
    )
    procedure = parts.general.get("tipo_procedura_aggiudicazione") or parts.general.get(
        "procedura_aggiudicazione"
    )
    published = notice.get("dataPubblicazione")
    published_at = take_column(
        warnings, "published_at", "dataPubblicazione", pvl_timestamp, published
    )
    award = award_fields(lot, warnings)
    return {
        "buyer_name": joined(name for name, _ in parts.buyers),
        "buyer_id": next((code for _, code in parts.buyers if code), None),
        "cpv": cpv_code_or_none(lot.get("cpv")),
        "nuts": nuts_code(lot.get("luogo_nuts")) or istat_nuts3(lot.get("luogo_istat")),
        "procedure_type": enum_text(procedure),
        "status": lot_status(lot, award, deadline_at),
        "amount": estimate,
        "currency": "EUR" if estimate is not None else None,
        "published_at": published_at,
        "deadline_at": deadline_at,
        **award,
    }


def _deadline_key(lot: Mapping[str, Any]) -> str | None:
    stated = [key for key, value in lot.items() if key.startswith("termine_") and value]
    ranked = sorted(stated, key=lambda k: (_DEADLINES.index(k) if k in _DEADLINES else 99, k))
    return ranked[0] if ranked else None
