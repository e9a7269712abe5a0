"""From one OCDS release (a release, a compiled release, a record's compiledRelease, or a
versioned release) to one TenderRecord per lot (DESIGN.md, Identity). Knows ANAC's quirks
(ocid prefix ocds-hu01ve): CIGs are lot ids, the procedure type is in
procurementMethodDetails, no title nor status, every date written as noon UTC.

A value that cannot be read is left empty with a warning on the record (`ReleaseValues`);
only a missing ocid, a lot without its key, or no title at all rejects a tender."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from src.domain.tender.schemas import (
    TENDER_STATUSES,
    RejectedRecord,
    TenderRecord,
    title_from_description,
)
from src.readers.common import InvalidCig, clean_text, is_object, normalize_cig, validation_problems
from src.readers.fields import build_record
from src.readers.items import ReadItem
from src.readers.ocds_awards import LotIndex, SharedAwards, delivery_nuts, first_title
from src.readers.ocds_parties import Parties, buyers, release_zone
from src.readers.ocds_values import ReleaseValues, obj, text_value
from src.readers.ocds_versioned import is_versioned, latest_state

ANAC_OCID_PREFIX = "ocds-hu01ve"
_OCID_PREFIX = re.compile(r"^(ocds-[a-z0-9]{6})-", re.IGNORECASE)
_METHOD_DETAILS = re.compile(r"COD:\s*(?P<code>[^;]*?)\s*;\s*TITLE:\s*(?P<title>.+)", re.I)
_CPV = re.compile(r"^(\d{8})(?:-(\d))?$")


def source_of(ocid: str) -> str:
    """The publisher namespace: `anac` for ANAC, `ocds:<ocid prefix>` for other publishers."""
    match = _OCID_PREFIX.match(ocid)
    prefix = match.group(1).lower() if match else ocid.split("-", 1)[0].lower()
    return "anac" if prefix == ANAC_OCID_PREFIX else f"ocds:{prefix}"


def normalize_cpv(value: object) -> str | None:
    """`45000000-7` as published. The check digit is kept when given and never invented:
    its algorithm is not published (weights 3,7,1 mod 10 match 118 of 121 real codes in our
    samples, which is not good enough), so a code without one stays 8 digits. Other shapes
    are kept as published (national extensions), cut to 12 characters."""
    text = text_value(value)
    if text is None:
        return None
    match = _CPV.match(text)
    if match is None:
        return text[:12]
    return f"{match.group(1)}-{match.group(2)}" if match.group(2) else match.group(1)


def _planning_text(release: Mapping[str, Any]) -> str | None:
    """What a planning release says of the purchase (budget description, project, rationale)."""
    planning = obj(release.get("planning"))
    budget = obj(planning.get("budget"))
    for text in (budget.get("description"), budget.get("project"), planning.get("rationale")):
        cleaned = clean_text(text) if isinstance(text, str) else None
        if cleaned and cleaned.strip("-\u2013\u2022 \r\n"):
            return cleaned.strip("-\u2013\u2022 ")
    return None


def _derived_status(
    tender: Mapping[str, Any], lot: Mapping[str, Any], award: dict[str, Any], planned: bool
) -> str | None:
    """OCDS status as published (lot first); else complete when awarded, active while there is
    a tender, planning for a planning release. Never from the clock: the same release always
    maps to the same tender, so re-ingesting it changes nothing."""
    for status in (lot.get("status"), tender.get("status")):
        if isinstance(status, str) and status in TENDER_STATUSES:
            return status
    if award:
        return "complete"
    if tender:
        return "active"
    if planned:
        return "planning"
    return None


def procedure_type(tender: Mapping[str, Any], values: ReleaseValues) -> str | None:
    """The OCDS `procurementMethod` code (open, selective, limited, direct) with the
    publisher's `procurementMethodDetails` beside it: "open (Procedura aperta)". ANAC gives
    only details ("COD:4 ; TITLE:PROCEDURA APERTA"): their title, in lower case."""
    method = values.text("procedure_type", tender.get("procurementMethod"))
    details = values.text("procedure_type", tender.get("procurementMethodDetails"))
    if details:
        match = _METHOD_DETAILS.match(details)
        details = match.group("title").strip().lower() if match else details
    if method and details and details.casefold() != method.casefold():
        return f"{method} ({details})"
    return method or details


def map_release(
    release: Any, *, source_url: str | None, position: str | None, raw_json: str | None = None
) -> Iterator[ReadItem]:
    """The tenders of one release (`raw_json`: the release as the JSON text it was read from,
    stored as the publication instead of writing the object out again)."""
    if not is_object(release):
        yield RejectedRecord.of("an OCDS release must be a JSON object", position, release)
        return
    state = latest_state(release) if is_versioned(release) else release
    ocid = state.get("ocid")
    if not isinstance(ocid, str) or not ocid.strip():
        yield RejectedRecord.of("release has no ocid", position, release)
        return
    ocid = ocid.strip()
    where = position or f"ocid {ocid}"
    try:
        procedure = _Procedure.of(state, ocid, source_url, raw=release, raw_json=raw_json)
        yield from _map_lots(procedure, position=where)
    except (ValueError, TypeError, AttributeError) as error:
        yield RejectedRecord.of(f"ocid {ocid}: {error}", where, release)


@dataclass(frozen=True)
class _Procedure:
    """What every lot of one release shares, read once per release."""

    release: Mapping[str, Any]
    ocid: str
    source: str
    tender: Mapping[str, Any]
    lots: list[Mapping[str, Any]]  # the published lots (may be none)
    index: LotIndex
    parties: Parties
    awards: SharedAwards  # the award columns of the lots, each award read once
    values: ReleaseValues  # with the warnings of the fields below
    fields: dict[str, Any]  # TenderRecord fields common to every lot
    tender_amount: Any
    tender_currency: str | None
    tender_deadline: datetime | None
    tender_nuts: str | None  # where the tender as a whole is delivered

    @classmethod
    def of(
        cls,
        release: Mapping[str, Any],
        ocid: str,
        source_url: str | None,
        *,
        raw: Any,
        raw_json: str | None = None,
    ) -> _Procedure:
        tender = obj(release.get("tender"))
        source = source_of(ocid)
        parties = Parties.of(release, anac=source == "anac")
        values = ReleaseValues(release_zone(release, parties), anac=parties.anac)
        found = buyers(release, parties)
        buyer_name, _ = parties.names_and_ids(found)
        amount, currency = values.money("", tender)
        period = obj(tender.get("tenderPeriod"))
        published = period.get("startDate") or tender.get("datePublished")
        fields: dict[str, Any] = {
            "source": source,
            "procedure_id": ocid,
            "buyer_name": buyer_name,
            "buyer_id": parties.org_id(found[0]) if found else None,  # the lead buyer's
            "procedure_type": procedure_type(tender, values),
            "published_at": values.date("published_at", published),
            "source_url": source_url,
            "source_updated_at": values.stamp("source_updated_at", release.get("date")),
            # One object for every lot, stored once per procedure; its text instead when the
            # reader has it (the parsed document is let go once mapped).
            "raw": dict(raw) if raw_json is None else None,
            "raw_json": raw_json,
            "format": "ocds",
        }
        items = tender.get("items")
        return cls(
            release=release,
            ocid=ocid,
            source=source,
            tender=tender,
            lots=[lot for lot in tender.get("lots") or [] if is_object(lot)],
            index=LotIndex.of(
                [item for item in items if is_object(item)] if isinstance(items, list) else [],
                release.get("awards"),
            ),
            parties=parties,
            awards=SharedAwards(parties),
            values=values,
            fields=fields,
            tender_amount=amount,
            tender_currency=currency,
            tender_deadline=values.date("deadline_at", period.get("endDate"), end_of_day=True),
            tender_nuts=delivery_nuts(tender),
        )


def _map_lots(procedure: _Procedure, *, position: str) -> Iterator[ReadItem]:
    ocid = procedure.ocid
    for lot in procedure.lots or [{}]:
        lot_id = clean_text(lot.get("id")) if isinstance(lot.get("id"), str | int) else None
        lot_position = f"{position} lot {lot_id}" if lot_id else position
        cig = None
        if procedure.source == "anac":
            try:
                cig = lot_id = _anac_cig(lot_id)
            except InvalidCig as error:
                yield RejectedRecord.of(
                    f"ocid {ocid}: {error}", lot_position, lot or procedure.tender
                )
                continue
        try:
            yield _map_lot(procedure, lot, lot_id, cig, lot_position)
        except ValidationError as error:
            reason = f"ocid {ocid}: {validation_problems(error)}"
            yield RejectedRecord.of(reason, lot_position, lot or procedure.tender)


def _anac_cig(lot_id: str | None) -> str:
    """ANAC names each lot by its CIG."""
    if lot_id is None:
        raise InvalidCig("ANAC lot without an id (CIG)")
    return normalize_cig(lot_id)


def _title(
    procedure: _Procedure,
    lot: Mapping[str, Any],
    lot_id: str | None,
    description: str | None,
    values: ReleaseValues,
) -> str | None:
    """Lot or tender title; a contract's or award's title (releases without a tender); the
    description's start; the first item description (the lot's own first); and as a last
    resort "<buyer> — <procurement category>"."""
    release, tender = procedure.release, procedure.tender
    title = (
        values.text("title", lot.get("title"))
        or values.text("title", tender.get("title"))
        or first_title(release.get("contracts"), release.get("awards"))
        or title_from_description(description)
        or title_from_description(procedure.index.item_text(lot_id))
    )
    return title or fallback_title(procedure.fields["buyer_name"], tender)


def fallback_title(buyer: object, tender: Mapping[str, Any]) -> str | None:
    """A lot's title when nothing published names or describes it: "<buyer> — <procurement
    category>", or the buyer alone."""
    category = tender.get("mainProcurementCategory")
    if buyer and isinstance(category, str) and category.strip():
        return f"{buyer} — {category.strip()}"
    return buyer if isinstance(buyer, str) else None


def _map_lot(
    procedure: _Procedure,
    lot: Mapping[str, Any],
    lot_id: str | None,
    cig: str | None,
    position: str,
) -> TenderRecord:
    release, tender = procedure.release, procedure.tender
    values = procedure.values.for_lot()
    amount, currency = values.money("", lot)
    if amount is None and len(procedure.lots or [{}]) == 1:
        amount, currency = procedure.tender_amount, procedure.tender_currency
    lot_end = obj(lot.get("tenderPeriod")).get("endDate")
    deadline = values.date("deadline_at", lot_end, end_of_day=True) or procedure.tender_deadline
    awards = procedure.index.lot_awards(lot_id, len(procedure.lots))
    award = procedure.awards.fields(awards, values)
    description = (
        values.text("description", lot.get("description"))
        or values.text("description", tender.get("description"))
        or _planning_text(release)
    )
    cpv_item = procedure.index.cpv_item(lot_id)
    cpv_code = obj(cpv_item.get("classification")).get("id") if cpv_item else None
    fields = {
        **procedure.fields,
        "lot_id": lot_id if procedure.lots else None,
        "cig": cig,
        "title": _title(procedure, lot, lot_id, description, values) or "",
        "description": description,
        "cpv": values.warnings.take("cpv", normalize_cpv, cpv_code),
        "nuts": procedure.index.nuts(lot_id) or procedure.tender_nuts,
        "status": _derived_status(tender, lot, award, "planning" in release),
        "amount": amount,
        "currency": currency,
        "deadline_at": deadline,
        "position": position,
        **award,
    }
    return build_record(fields, values.warnings)
