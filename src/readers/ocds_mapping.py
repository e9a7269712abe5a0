"""From one OCDS release (a release, a compiled release, or a record's compiledRelease) to
one TenderRecord per lot (DESIGN.md, Identity). Knows ANAC's quirks (ocid prefix ocds-hu01ve):
CIGs are lot ids, the procedure type is in procurementMethodDetails, no title nor status."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from src.domain.tender.schemas import TENDER_STATUSES, RejectedRecord, TenderRecord
from src.readers.common import (
    InvalidCig,
    clean_text,
    normalize_cig,
    parse_amount,
    parse_timestamp,
    validation_problems,
)
from src.readers.items import ReadItem

ANAC_OCID_PREFIX = "ocds-hu01ve"
_OCID_PREFIX = re.compile(r"^(ocds-[a-z0-9]{6})-", re.IGNORECASE)
_METHOD_DETAILS = re.compile(r"COD:\s*(?P<code>[^;]*?)\s*;\s*TITLE:\s*(?P<title>.+)", re.I)
_CPV = re.compile(r"^(\d{8})(?:-(\d))?$")


def _obj(value: object) -> Mapping[str, Any]:
    """The value when it is a JSON object, else an empty one (publishers send nulls)."""
    return value if isinstance(value, Mapping) else {}


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
    text = clean_text(value)
    if text is None:
        return None
    match = _CPV.match(text)
    if match is None:
        return text[:12]
    return f"{match.group(1)}-{match.group(2)}" if match.group(2) else match.group(1)


def _main_cpv(items: list[Any]) -> str | None:
    for item in items:
        if isinstance(item, Mapping) and _is_cpv_item(item):
            return normalize_cpv(item["classification"].get("id"))
    return None


def _value(container: Any) -> tuple[Any, str | None]:
    value = container.get("value") if isinstance(container, Mapping) else None
    if not isinstance(value, Mapping):
        return None, None
    return parse_amount(value.get("amount")), clean_text(value.get("currency"))


def _buyer(release: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Buyer name and id; the id prefers the party's IT-CF fiscal code (or its identifier)."""
    buyer = _obj(release.get("buyer"))
    buyer_id = buyer.get("id")
    for party in release.get("parties") or []:
        if not isinstance(party, Mapping):
            continue
        roles = party.get("roles") or []
        if party.get("id") == buyer_id or (buyer_id is None and "buyer" in roles):
            identifier = _obj(party.get("identifier"))
            return (
                clean_text(buyer.get("name") or party.get("name")),
                clean_text(identifier.get("id") or party.get("id")),
            )
    return clean_text(buyer.get("name")), clean_text(buyer_id)


def _is_cpv_item(item: Mapping[str, Any]) -> bool:
    classification = item.get("classification")
    return isinstance(classification, Mapping) and str(
        classification.get("scheme", "")
    ).upper().startswith("CPV")


def _lot_key(value: object) -> bool:
    """A value that can name a lot: lot ids are text (an item of no lot names None)."""
    return isinstance(value, str) or value is None


@dataclass(frozen=True)
class _LotIndex:
    """What each lot looks up in a release, indexed once per release instead of rescanned
    for every lot: each lot's first CPV item, and the awards that may be a lot's."""

    main_cpv: str | None  # of the first CPV item of the release
    cpv_by_lot: dict[str | None, tuple[int, str | None]]  # relatedLot -> (item, its CPV)
    awards: list[Mapping[str, Any]]  # neither cancelled nor unsuccessful, in order
    awards_by_lot: dict[str, list[int]]  # lot id -> the awards (in `awards`) naming it
    unrelated: list[int]  # awards that name no lot
    other: list[int]  # awards whose relatedLots is not a list (read as published)

    @classmethod
    def of(cls, items: list[Mapping[str, Any]], awards: Any) -> _LotIndex:
        cpv_by_lot: dict[str | None, tuple[int, str | None]] = {}
        for number, item in enumerate(items):
            related = item.get("relatedLot")
            if _lot_key(related) and related not in cpv_by_lot and _is_cpv_item(item):
                cpv_by_lot[related] = (number, _main_cpv([item]))
        kept = [
            award
            for award in awards or []
            if isinstance(award, Mapping)
            and award.get("status") not in ("cancelled", "unsuccessful")
        ]
        index = cls(_main_cpv(items), cpv_by_lot, kept, {}, [], [])
        for number, award in enumerate(kept):
            related = award.get("relatedLots") or []
            if not related:
                index.unrelated.append(number)
            elif not isinstance(related, list):
                index.other.append(number)
            else:
                for lot_id in dict.fromkeys(r for r in related if isinstance(r, str)):
                    index.awards_by_lot.setdefault(lot_id, []).append(number)
        return index

    def cpv(self, lot_id: str | None) -> str | None:
        """The CPV of the lot's first CPV item (an item of no lot is every lot's), else the
        release's first."""
        if lot_id is None:
            return self.main_cpv
        found = [self.cpv_by_lot[key] for key in (None, lot_id) if key in self.cpv_by_lot]
        return (min(found)[1] if found else None) or self.main_cpv

    def award(self, lot_id: str | None, lots: int) -> dict[str, Any]:
        """The latest active award of a lot (or of the whole tender when it has one lot)."""
        if lot_id is None:
            candidates: Iterable[int] = range(len(self.awards))
        else:
            named = self.awards_by_lot.get(lot_id, [])
            others = [n for n in self.other if lot_id in self.awards[n]["relatedLots"]]
            candidates = sorted({*named, *others, *(self.unrelated if lots <= 1 else ())})
        chosen: Mapping[str, Any] | None = None
        for number in candidates:
            award = self.awards[number]
            if chosen is None or str(award.get("date") or "") >= str(chosen.get("date") or ""):
                chosen = award
        return {} if chosen is None else _award_fields(chosen)


def _award_fields(chosen: Mapping[str, Any]) -> dict[str, Any]:
    amount, currency = _value(chosen)
    suppliers = [s for s in chosen.get("suppliers") or [] if isinstance(s, Mapping)]
    return {
        "award_amount": amount,
        "award_currency": currency,
        "awarded_at": parse_timestamp(chosen.get("date")),
        "supplier_name": clean_text(suppliers[0].get("name")) if suppliers else None,
        "supplier_id": clean_text(suppliers[0].get("id")) if suppliers else None,
    }


def _first_title(*containers: Any) -> str | None:
    """A contract's or award's title, for releases that carry no tender (tag contract)."""
    for container in containers:
        for entry in container if isinstance(container, list) else []:
            title = clean_text(_obj(entry).get("title"))
            if title:
                return title
    return None


def _planning_text(release: Mapping[str, Any]) -> str | None:
    """What a planning release says of the purchase (budget description, project, rationale)."""
    planning = _obj(release.get("planning"))
    budget = _obj(planning.get("budget"))
    for text in (budget.get("description"), budget.get("project"), planning.get("rationale")):
        cleaned = clean_text(text)
        if cleaned and cleaned.strip("-\u2013\u2022 \r\n"):
            return cleaned.strip("-\u2013\u2022 ")
    return None


def _derived_status(
    tender: Mapping[str, Any],
    lot: Mapping[str, Any],
    award: dict[str, Any],
    deadline: datetime | None,
    planned: bool = False,
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


def map_release(
    release: Any, *, source_url: str | None, position: str | None
) -> Iterator[ReadItem]:
    if not isinstance(release, Mapping):
        yield RejectedRecord.of("an OCDS release must be a JSON object", position, release)
        return
    ocid = release.get("ocid")
    if not isinstance(ocid, str) or not ocid.strip():
        yield RejectedRecord.of("release has no ocid", position, release)
        return
    ocid = ocid.strip()
    where = position or f"ocid {ocid}"
    try:
        yield from _map_lots(release, ocid, source_url=source_url, position=where)
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
    index: _LotIndex
    fields: dict[str, Any]  # TenderRecord fields common to every lot
    tender_amount: Any
    tender_currency: str | None
    tender_deadline: datetime | None

    @classmethod
    def of(cls, release: Mapping[str, Any], ocid: str, source_url: str | None) -> _Procedure:
        tender = _obj(release.get("tender"))
        buyer_name, buyer_id = _buyer(release)
        amount, currency = _value(tender)
        period = _obj(tender.get("tenderPeriod"))
        source = source_of(ocid)
        fields: dict[str, Any] = {
            "source": source,
            "procedure_id": ocid,
            "buyer_name": buyer_name,
            "buyer_id": buyer_id,
            "procedure_type": _procedure_type(tender),
            "published_at": parse_timestamp(period.get("startDate") or tender.get("datePublished")),
            "source_url": source_url,
            "source_updated_at": parse_timestamp(release.get("date")),
            "raw": dict(release),  # one object for every lot: stored once per procedure
            "format": "ocds",
        }
        items = [item for item in tender.get("items") or [] if isinstance(item, Mapping)]
        return cls(
            release=release,
            ocid=ocid,
            source=source,
            tender=tender,
            lots=[lot for lot in tender.get("lots") or [] if isinstance(lot, Mapping)],
            index=_LotIndex.of(items, release.get("awards")),
            fields=fields,
            tender_amount=amount,
            tender_currency=currency,
            tender_deadline=parse_timestamp(period.get("endDate")),
        )


def _procedure_type(tender: Mapping[str, Any]) -> str | None:
    details = clean_text(tender.get("procurementMethodDetails"))
    if details:
        match = _METHOD_DETAILS.match(details)
        return match.group("title").strip().lower() if match else details
    return clean_text(tender.get("procurementMethod"))


def _map_lots(
    release: Mapping[str, Any], ocid: str, *, source_url: str | None, position: str
) -> Iterator[ReadItem]:
    procedure = _Procedure.of(release, ocid, source_url)
    for lot in procedure.lots or [{}]:
        lot_id = clean_text(lot.get("id"))
        lot_position = f"{position} lot {lot_id}" if lot_id else position
        cig = None
        if procedure.source == "anac":
            try:
                cig = lot_id = _anac_cig(ocid, lot_id)
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


def _anac_cig(ocid: str, lot_id: str | None) -> str:
    """ANAC names each lot by its CIG."""
    if lot_id is None:
        raise InvalidCig("ANAC lot without an id (CIG)")
    return normalize_cig(lot_id)


def _map_lot(
    procedure: _Procedure,
    lot: Mapping[str, Any],
    lot_id: str | None,
    cig: str | None,
    position: str,
) -> TenderRecord:
    release, tender = procedure.release, procedure.tender
    amount, currency = _value(lot)
    if amount is None and len(procedure.lots or [{}]) == 1:
        amount, currency = procedure.tender_amount, procedure.tender_currency
    deadline = (
        parse_timestamp(_obj(lot.get("tenderPeriod")).get("endDate")) or procedure.tender_deadline
    )
    award = procedure.index.award(lot_id, len(procedure.lots))
    description = (
        clean_text(lot.get("description"))
        or clean_text(tender.get("description"))
        or _planning_text(release)
    )
    title = (
        clean_text(lot.get("title"))
        or clean_text(tender.get("title"))
        or _first_title(release.get("contracts"), release.get("awards"))
    )
    return TenderRecord(
        **procedure.fields,
        lot_id=lot_id if procedure.lots else None,
        cig=cig,
        title=title or "",
        description=description,
        cpv=procedure.index.cpv(lot_id),
        status=_derived_status(tender, lot, award, deadline, "planning" in release),
        amount=amount,
        currency=currency,
        deadline_at=deadline,
        position=position,
        **award,
    )
