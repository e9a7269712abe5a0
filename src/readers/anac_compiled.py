"""ANAC's compiled releases of their usual shape, mapped in one pass: the records
`ocds_mapping.map_release` gives them, at less than half its cost. ANAC's releases are nearly
all that a fresh ingest reads (a line per procedure, a tenth of a gigabyte a month), and the
general mapping pays on each of them for every other publisher's shapes: joint buyers, awards
of no lot, items of no lot, places, titles from contracts, versioned releases, numbers as
text, values to warn of.

This answers only for a release whose every key it knows (the lists below) with values of
the types it expects, no CIG to refuse, nothing to warn of and nothing the validation would
change; for any other it gives None, and `map_release` maps that release as it maps every
other. tests/readers/test_anac_compiled.py compares the two record for record on generated
releases, on variations of each of their fields, and on ANAC's own sample."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from src.domain.tender.plain_record import plain_record
from src.domain.tender.schemas import TENDER_STATUSES, TenderRecord, title_from_description
from src.readers.common import ROME, normalize_cig
from src.readers.ocds_awards import SharedAwards, is_cpv_item
from src.readers.ocds_mapping import (
    ANAC_OCID_PREFIX,
    fallback_title,
    normalize_cpv,
    procedure_type,
)
from src.readers.ocds_parties import Parties, joined_names_and_ids
from src.readers.ocds_values import ReleaseValues, text_value

# What the mapping reads of each object, or knows it may leave (ids, tags, language, units).
_RELEASE_KEYS = frozenset(
    {"awards", "buyer", "contracts", "date", "id", "initiationType", "language", "ocid"}
    | {"parties", "tag", "tender"}
)
_TENDER_KEYS = frozenset(
    {"description", "id", "items", "lots", "mainProcurementCategory", "procurementMethod"}
    | {"procurementMethodDetails", "tenderPeriod", "value", "datePublished"}
)
_LOT_KEYS = frozenset({"description", "id", "status", "value"})
_ITEM_KEYS = frozenset({"classification", "description", "id", "relatedLot", "unit", "quantity"})
_AWARD_KEYS = frozenset({"date", "id", "items", "relatedLots", "status", "suppliers", "value"})
_REFERENCE_KEYS = frozenset({"id", "name"})  # a buyer or a supplier named in a release
_IN_FORCE = frozenset({"active", None})  # award statuses (others: to the general mapping)
_NUMBERS = frozenset({int, float})  # what JSON gives for an amount (a bool is not one)
_PREFIX = f"{ANAC_OCID_PREFIX}-"


class _OtherShapeError(Exception):
    """Not of the usual shape: the general mapping maps it."""


def map_anac_compiled(
    release: Any, *, source_url: str | None, position: str | None, raw_json: str | None
) -> list[TenderRecord] | None:
    """The records of an ANAC compiled release of the usual shape, as `map_release` gives
    them; None for any other document."""
    try:
        return _records(release, source_url, position, raw_json)
    except (_OtherShapeError, ValueError, TypeError, AttributeError, KeyError):
        return None  # the general mapping maps it (or rejects it, with its reason)


def _records(
    release: Any, source_url: str | None, position: str | None, raw_json: str | None
) -> list[TenderRecord]:
    ocid = release.get("ocid") if type(release) is dict else None
    if not (type(ocid) is str and ocid[: len(_PREFIX)] == _PREFIX and ocid == ocid.strip()):
        raise _OtherShapeError
    _check(release, _RELEASE_KEYS)
    if type(release["id"]) is not str or type(release["date"]) is not str:
        raise _OtherShapeError  # a versioned release has neither
    tender = _check(release["tender"], _TENDER_KEYS)
    lots = [_check(lot, _LOT_KEYS) for lot in _list(tender["lots"])]
    if not lots or any("title" in _object(c) for c in _list(release.get("contracts"))):
        raise _OtherShapeError  # no lot, or a contract's title (a title)
    parties = _Parties.of(release)
    buyer_name, buyer_id = parties.names_and_ids([_check(release["buyer"], _REFERENCE_KEYS)])
    values = ReleaseValues(ROME, anac=True)
    period = _object(tender.get("tenderPeriod"))
    published = period.get("startDate") or tender.get("datePublished")
    shared: dict[str, Any] = {
        "source": "anac",
        "procedure_id": ocid,
        "buyer_name": buyer_name,
        "buyer_id": buyer_id or None,
        "procedure_type": procedure_type(tender, values),
        "published_at": values.read_date(published, False),
        "source_url": source_url,
        "source_updated_at": values.stamp("source_updated_at", release["date"]),
        "raw": dict(release) if raw_json is None else None,
        "raw_json": raw_json,
        "format": "ocds",
    }
    awards = _awards_by_lot(_list(release.get("awards")))
    several = sum(map(len, awards.values())) > len(awards)  # a lot of several awards
    lot_of = _Lots(
        values=values,
        parties=parties,
        items=_Items.of(_list(tender.get("items"))),
        awards=awards,
        shared_awards=SharedAwards(Parties(parties.by_id, anac=True)) if several else None,
        where=position or f"ocid {ocid}",
        description=_text(tender.get("description")),
        fallback_title=fallback_title(buyer_name, tender) or "",
        deadline=values.read_date(period.get("endDate"), True),
        tender_money=_money(tender) if len(lots) == 1 else None,  # a single lot's is the tender's
    )
    records = []
    for lot in lots:
        record = plain_record({**shared, **lot_of.fields(lot)}, [])
        if record is None or values.warnings:
            raise _OtherShapeError  # to be changed, refused or warned of: the general mapping
        records.append(record)
    return records


def _check(value: object, keys: frozenset[str]) -> Mapping[str, Any]:
    """`value` as an object of none but `keys`."""
    if type(value) is not dict or not value.keys() <= keys:
        raise _OtherShapeError
    return value


def _list(value: object) -> list[Any]:
    """A list (None: an empty one)."""
    if value is None:
        return []
    if type(value) is not list:
        raise _OtherShapeError
    return value


def _object(value: object) -> Mapping[str, Any]:
    """An object (None: an empty one)."""
    if value is None:
        return {}
    if type(value) is not dict:
        raise _OtherShapeError
    return value


def _text(value: object) -> str | None:
    """Text as the mapping takes it (a value of another type: the general mapping's)."""
    if type(value) is str:
        return text_value(value)
    if value is None:
        return None
    raise _OtherShapeError


def _money(container: Mapping[str, Any]) -> tuple[Decimal | None, str | None]:
    """`value.amount` and `value.currency`, of numbers as JSON gives them."""
    value = container.get("value")
    if type(value) is not dict:
        return None, None  # as the general mapping reads a value that is not an object
    amount = value.get("amount")
    if type(amount) in _NUMBERS:
        return Decimal(str(amount)), _text(value.get("currency"))
    if amount is None:
        return None, _text(value.get("currency"))
    raise _OtherShapeError


class _Parties:
    """The release's parties by id; the one buyer (joint procurement is not this shape)."""

    __slots__ = ("by_id",)

    def __init__(self, by_id: dict[str, Mapping[str, Any]]) -> None:
        self.by_id = by_id

    @classmethod
    def of(cls, release: Mapping[str, Any]) -> _Parties:
        by_id: dict[str, Mapping[str, Any]] = {}
        for party in _list(release.get("parties")):
            key = _object(party).get("id")
            if type(key) is str:
                by_id.setdefault(key, party)
            elif key is not None:
                raise _OtherShapeError
        lead = release["buyer"].get("id")
        for party in by_id.values():
            roles = party.get("roles")
            if isinstance(roles, list) and "buyer" in roles and party["id"] != lead:
                raise _OtherShapeError  # another buyer
        return cls(by_id)

    def _name_and_id(self, reference: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """A reference as `Parties.resolve` and `Parties.org_id` read it: its own name and
        id first, the party's identifier (ANAC's bare fiscal code) before the id."""
        key, name = reference.get("id"), reference.get("name")
        if type(key) is not str or not (name is None or type(name) is str):
            raise _OtherShapeError
        party = self.by_id.get(key, {})
        if not name:
            name = party.get("name")
        code = _text(_object(party.get("identifier")).get("id"))
        return _text(name), code or _text(key or party.get("id"))

    def names_and_ids(self, references: list[Mapping[str, Any]]) -> tuple[str | None, str | None]:
        """As `Parties.names_and_ids` gives them (one reference: its name and its id or "")."""
        return joined_names_and_ids(
            self._name_and_id(_check(r, _REFERENCE_KEYS)) for r in references
        )


class _Items:
    """Each lot's first CPV item and first item description, the release's first CPV item."""

    __slots__ = ("cpv", "first_cpv", "text")

    def __init__(self) -> None:
        self.cpv: dict[str, Mapping[str, Any]] = {}
        self.text: dict[str, str] = {}
        self.first_cpv: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, items: list[Any]) -> _Items:
        found = cls()
        for item in items:
            related = _check(item, _ITEM_KEYS).get("relatedLot")
            if type(related) is not str:
                raise _OtherShapeError  # an item of no lot is every lot's
            if is_cpv_item(item):
                found.first_cpv = found.first_cpv or item
                found.cpv.setdefault(related, item)
            text = item.get("description")
            if related not in found.text and isinstance(text, str) and text.strip():
                found.text[related] = text
        return found


def _awards_by_lot(awards: list[Any]) -> dict[str, list[Mapping[str, Any]]]:
    """The awards in force of each lot, in order, each once."""
    by_lot: dict[str, list[Mapping[str, Any]]] = {}
    for award in awards:
        related = _check(award, _AWARD_KEYS).get("relatedLots")
        if award.get("status") not in _IN_FORCE or type(related) is not list or not related:
            raise _OtherShapeError  # not in force, of no lot, or lots not as a list
        for lot_id in dict.fromkeys(r for r in related if isinstance(r, str)):
            by_lot.setdefault(lot_id, []).append(award)
    return by_lot


@dataclass(frozen=True, slots=True)
class _Lots:
    """What the lots of one release share, and the fields of each."""

    values: ReleaseValues
    parties: _Parties
    items: _Items
    awards: dict[str, list[Mapping[str, Any]]]  # the awards in force of each lot
    # A lot of several awards: each award read once a release (None: no lot has several).
    shared_awards: SharedAwards | None
    where: str
    description: str | None  # the tender's
    fallback_title: str
    deadline: datetime | None
    tender_money: tuple[Decimal | None, str | None] | None

    def fields(self, lot: Mapping[str, Any]) -> dict[str, Any]:
        lot_id = lot["id"]
        cig = normalize_cig(lot_id if type(lot_id) is str else None)
        award = self._award(self.awards.get(cig))
        description = _text(lot.get("description")) or self.description
        cpv_item = self.items.cpv.get(cig) or self.items.first_cpv
        cpv = _object(cpv_item["classification"]).get("id") if cpv_item else None
        status = lot.get("status")
        amount, currency = _money(lot)
        if amount is None and self.tender_money is not None:
            amount, currency = self.tender_money
        return {
            "lot_id": cig,
            "cig": cig,
            "title": title_from_description(description)
            or title_from_description(self.items.text.get(cig))
            or self.fallback_title,
            "description": description,
            "cpv": normalize_cpv(cpv),
            "nuts": None,
            "status": status
            if isinstance(status, str) and status in TENDER_STATUSES
            else ("complete" if award else "active"),
            "amount": amount,
            "currency": currency,
            "deadline_at": self.deadline,
            "position": f"{self.where} lot {lot_id.strip()}",
            **award,
        }

    def _award(self, awards: list[Mapping[str, Any]] | None) -> dict[str, Any]:
        """A lot's award columns, as the general mapping's `SharedAwards` gives them."""
        if not awards:
            return {}
        if len(awards) > 1:  # several awards of one lot: totalled as the general rule says
            if self.shared_awards is None:
                raise _OtherShapeError  # not reached: built whenever a lot has several
            return self.shared_awards.fields(awards, self.values)
        award = awards[0]
        amount, currency = _money(award)
        name, supplier_id = self.parties.names_and_ids(_list(award.get("suppliers")))
        return {
            "award_amount": None if amount is None else Decimal(0) + amount,
            "award_currency": currency,
            "awarded_at": self.values.read_date(award.get("date"), False),
            "supplier_name": name,
            "supplier_id": supplier_id,
        }
