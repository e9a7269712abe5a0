"""What each lot of an OCDS release looks up: its CPV, its first item description, its place
of performance and its awards, indexed once per release instead of rescanned for every lot.

A lot's place (`nuts`) is the first NUTS code that its items state (else the items of no lot;
a release without lots: any item), where an item states one as the Location extension's
gazetteer of scheme NUTS (`deliveryLocations` / `deliveryLocation`, its `identifiers`), else as
the `region` of a delivery address (`deliveryAddresses` / `deliveryAddress`) that is a NUTS
code. The explicit gazetteer comes first; a region that is a place's name ("Kyiv oblast",
Mexico's "DF") is not a code and no warning (`readers.nuts`).

A lot's award is every award of it that is in force (status `active`, or no status: many
publishers leave it empty); `pending`, `cancelled` and `unsuccessful` awards do not count, as
OCDS replaces an award by cancelling it. Several awards of one lot (several suppliers of a
framework, its re-openings, an extension) are one award of their total: award_amount is their
sum when they share one currency (else the latest award's value), awarded_at the latest date,
suppliers every distinct supplier joined with "; "."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from src.domain.tender.schemas import FieldWarning
from src.readers.common import clean_text, is_object
from src.readers.fields import FieldWarnings
from src.readers.nuts import first_nuts, nuts_code
from src.readers.ocds_parties import Parties, names_and_ids_of
from src.readers.ocds_values import ReleaseValues

_CPV_SCHEME = "CPV"
_NOT_IN_FORCE = frozenset({"cancelled", "unsuccessful", "pending"})
_NEVER = datetime.min.replace(tzinfo=UTC)


def is_cpv_item(item: Mapping[str, Any]) -> bool:
    classification = item.get("classification")
    return is_object(classification) and str(classification.get("scheme", "")).upper().startswith(
        _CPV_SCHEME
    )


def _lot_key(value: object) -> bool:
    """A value that can name a lot: lot ids are text (an item of no lot names None)."""
    return isinstance(value, str) or value is None


def _objects(value: object) -> list[Mapping[str, Any]]:
    if is_object(value):
        return [value]
    return [v for v in value if is_object(v)] if isinstance(value, list) else []


def delivery_nuts(holder: Mapping[str, Any]) -> str | None:
    """The first NUTS code where an item (or a tender) is delivered (see the module's rule)."""
    locations = holder.get("deliveryLocations") or holder.get("deliveryLocation")
    addresses = holder.get("deliveryAddresses") or holder.get("deliveryAddress")
    if locations is None and addresses is None:
        return None  # most releases: the hot path
    for location in _objects(locations):
        gazetteer = location.get("gazetteer")
        if is_object(gazetteer) and str(gazetteer.get("scheme")).upper() == "NUTS":
            identifiers = gazetteer.get("identifiers")
            code = first_nuts(identifiers) if isinstance(identifiers, list) else None
            if code is not None:
                return code
    return next((code for a in _objects(addresses) if (code := nuts_code(a.get("region")))), None)


@dataclass(frozen=True)
class LotIndex:
    """Each lot's first CPV item, first item description and place, and the awards that may
    be a lot's."""

    main_cpv_item: Mapping[str, Any] | None  # the release's first CPV item
    cpv_by_lot: dict[str | None, tuple[int, Mapping[str, Any]]]  # relatedLot -> (item, it)
    text_by_lot: dict[str | None, str]  # relatedLot -> the first item description
    nuts_by_lot: dict[str | None, str]  # relatedLot -> the first NUTS code of its items
    main_nuts: str | None  # the first NUTS code of any item
    awards: list[Mapping[str, Any]]  # the awards in force, in order
    awards_by_lot: dict[str, list[int]]  # lot id -> the awards (in `awards`) naming it
    unrelated: list[int]  # awards that name no lot
    other: list[int]  # awards whose relatedLots is not a list (read as published)

    @classmethod
    def of(cls, items: list[Mapping[str, Any]], awards: Any) -> LotIndex:
        cpv_by_lot: dict[str | None, tuple[int, Mapping[str, Any]]] = {}
        text_by_lot: dict[str | None, str] = {}
        nuts_by_lot: dict[str | None, str] = {}
        main_nuts = None
        for number, item in enumerate(items):
            related = item.get("relatedLot")
            keyed = _lot_key(related)
            if (main_nuts is None or (keyed and related not in nuts_by_lot)) and (
                code := delivery_nuts(item)
            ):
                main_nuts = main_nuts or code
                if keyed:
                    nuts_by_lot.setdefault(related, code)
            if not keyed:
                continue
            if related not in cpv_by_lot and is_cpv_item(item):
                cpv_by_lot[related] = (number, item)
            description = item.get("description")
            if related not in text_by_lot and isinstance(description, str) and description.strip():
                text_by_lot[related] = description
        main = next((item for item in items if is_cpv_item(item)), None)
        kept = [
            award
            for award in (awards if isinstance(awards, list) else [])
            if is_object(award) and award.get("status") not in _NOT_IN_FORCE
        ]
        index = cls(main, cpv_by_lot, text_by_lot, nuts_by_lot, main_nuts, kept, {}, [], [])
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

    def cpv_item(self, lot_id: str | None) -> Mapping[str, Any] | None:
        """The lot's first CPV item (an item of no lot is every lot's), else the release's
        first."""
        if lot_id is None:
            return self.main_cpv_item
        if None not in self.cpv_by_lot:  # no item of no lot: the lot's own, if any
            own = self.cpv_by_lot.get(lot_id)
            return own[1] if own is not None else self.main_cpv_item
        found = [self.cpv_by_lot[key] for key in (None, lot_id) if key in self.cpv_by_lot]
        return min(found, key=lambda pair: pair[0])[1] if found else self.main_cpv_item

    def item_text(self, lot_id: str | None) -> str | None:
        """The first item description of the lot, else of an item of no lot."""
        return self.text_by_lot.get(lot_id) or self.text_by_lot.get(None)

    def nuts(self, lot_id: str | None) -> str | None:
        """The lot's place: its own items', else those of no lot's; any item's without a lot."""
        if lot_id is None:
            return self.main_nuts
        return self.nuts_by_lot.get(lot_id) or self.nuts_by_lot.get(None)

    def lot_awards(self, lot_id: str | None, lots: int) -> list[Mapping[str, Any]]:
        """The awards of a lot (of the whole tender when it has one lot or none)."""
        if lot_id is None:
            candidates: Iterable[int] = range(len(self.awards))
        else:
            named = self.awards_by_lot.get(lot_id, [])
            if not self.other and (lots > 1 or not self.unrelated):
                return [self.awards[number] for number in named]  # in order, each once
            others = [n for n in self.other if lot_id in self.awards[n]["relatedLots"]]
            candidates = sorted({*named, *others, *(self.unrelated if lots <= 1 else ())})
        return [self.awards[number] for number in candidates]


@dataclass(frozen=True, slots=True)
class _Reading:
    """What a lot's award columns take of one award, and the warnings reading it gave."""

    date: datetime | None
    amount: Decimal | None
    currency: str | None
    suppliers: tuple[tuple[str | None, str | None], ...]  # each one's name and id
    warnings: tuple[FieldWarning, ...]

    @classmethod
    def of(cls, award: Mapping[str, Any], values: ReleaseValues, parties: Parties) -> _Reading:
        found = FieldWarnings()
        reader = ReleaseValues(values.zone, values.anac, found)
        date = reader.date("awarded_at", award.get("date"))
        amount, currency = reader.money("award_", award)
        listed = award.get("suppliers")
        suppliers = (
            [parties.name_and_id(parties.resolve(s)) for s in listed if is_object(s)]
            if isinstance(listed, list)
            else []
        )
        return cls(date, amount, currency, tuple(suppliers), tuple(found))


def _combined(readings: list[_Reading]) -> dict[str, Any]:
    """The award columns of one lot's awards in force (see the module's rule)."""
    latest = (
        0
        if len(readings) == 1
        else max(
            range(len(readings)),
            key=lambda n: (readings[n].date is not None, readings[n].date or _NEVER, n),
        )
    )
    priced = [r for r in readings if r.amount is not None]
    amount: Decimal | None
    if priced and len({(r.currency or "").upper() for r in priced}) <= 1:
        amount = sum((cast(Decimal, r.amount) for r in priced), Decimal(0))
        currency = next((r.currency for r in priced if r.currency), None)
    else:
        amount, currency = readings[latest].amount, readings[latest].currency
    name, supplier_id = names_and_ids_of([s for r in readings for s in r.suppliers])
    return {
        "award_amount": amount,
        "award_currency": currency,
        "awarded_at": readings[latest].date,
        "supplier_name": name,
        "supplier_id": supplier_id,
    }


class SharedAwards:
    """The award columns of a release's lots, each award read once: a release of A awards
    naming L lots each used to read A x L awards (the input holds A x L references, but a
    reference is a few bytes and a reading some microseconds). The columns of the last set
    of awards are kept too, so that lots that share their awards (a framework whose every
    award names every lot) cost a comparison each; only the last: columns kept for every
    set would hold a joined text of suppliers per lot, O(A x L) memory. A lot is given the
    warnings of its awards' readings, in order, as if they were read for it."""

    __slots__ = ("_last", "_parties", "_readings")

    def __init__(self, parties: Parties) -> None:
        self._parties = parties
        self._readings: dict[int, _Reading] = {}
        self._last: tuple[tuple[int, ...], dict[str, Any], tuple[FieldWarning, ...]] | None = None

    def fields(self, awards: list[Mapping[str, Any]], values: ReleaseValues) -> dict[str, Any]:
        """The award columns of a lot's awards in force (see the module's rule)."""
        if not awards:
            return {}
        key = tuple(map(id, awards))  # the awards are the release's: alive while it is mapped
        if self._last is None or self._last[0] != key:
            readings = [self._reading(award, values) for award in awards]
            warnings = tuple(w for reading in readings for w in reading.warnings)
            self._last = (key, _combined(readings), warnings)
        values.warnings.extend(self._last[2])
        return self._last[1]

    def _reading(self, award: Mapping[str, Any], values: ReleaseValues) -> _Reading:
        found = self._readings.get(id(award))
        if found is None:
            found = self._readings[id(award)] = _Reading.of(award, values, self._parties)
        return found


def first_title(*containers: Any) -> str | None:
    """A contract's or award's title, for releases that carry no tender (tag contract)."""
    for container in containers:
        for entry in container if isinstance(container, list) else []:
            title = entry.get("title") if is_object(entry) else None
            if isinstance(title, str) and clean_text(title):
                return clean_text(title)
    return None
