"""The award of an eForms lot, read from the notice's results (efac:NoticeResult): the winners,
what they were awarded, and when.

Winners: the tenders the lot's efac:LotResult names (through its efac:SettledContract, else
directly). When there is no LotResult for the lot, or it names no tender and does not say the
lot closed without a winner (a VEAT or award notice can carry the winner only through
efac:LotTender and efac:SettledContract): the lot's LotTenders (efac:TenderLot/cbc:ID) that a
SettledContract names, else the one ranked first, else the lot's only tender.

Several winners on one lot (a framework agreement with several suppliers): `award_amount` is
the sum of their tenders' amounts when all are in one currency, suppliers are joined with "; "
(a group's leader first), `awarded_at` is the earliest decision. Without a tender amount, a
notice of one lot takes the notice's total (cbc:TotalAmount).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from lxml import etree

from src.readers.eforms_xml import NS, money
from src.readers.eforms_xml import content as _content
from src.readers.eforms_xml import moment as _moment
from src.readers.eforms_xml import text as _text
from src.readers.eforms_xml import texts as _texts
from src.readers.fields import FieldWarnings

# winner-selection-status (BT-142) -> tender status of the lot
RESULT_STATUS = {"selec-w": "complete", "clos-nw": "unsuccessful", "open-nw": "active"}
_NO_WINNER = frozenset({"clos-nw", "open-nw"})
_PAYABLE = "cac:LegalMonetaryTotal/cbc:PayableAmount"

Element = etree._Element


@dataclass(frozen=True)
class Party:
    """An organisation of the notice (efac:Organization/efac:Company)."""

    name: str | None
    legal_id: str | None  # its company id, else its ORG-xxxx id
    country: str | None  # cac:PostalAddress/cac:Country/cbc:IdentificationCode (alpha-3)
    lead: bool = False  # efbc:GroupLeadIndicator (the lead buyer of a joint procurement)


@dataclass(frozen=True)
class Results:
    """A notice's results, indexed once for all its lots (rescanning them for every lot made
    a notice of 4,000 lots take minutes): each lot's LotResults and LotTenders, the tenders,
    contracts and tendering parties by id (the last of an id wins), the contracts naming
    each tender, and the notice's total."""

    by_lot: dict[str | None, list[tuple[int, Element]]]  # TenderLot id -> LotResults
    tenders_by_lot: dict[str | None, list[Element]]  # TenderLot id -> LotTenders
    by_id: dict[str, dict[str | None, Element]]  # kind -> id -> element
    contracts_of: dict[str, list[Element]]  # LotTender id -> SettledContracts naming it
    total: Element | None  # cbc:TotalAmount

    @classmethod
    def of(cls, result: Element) -> Results:
        by_lot: dict[str | None, list[tuple[int, Element]]] = {}
        for number, lot_result in enumerate(result.findall("efac:LotResult", NS)):
            lot_id = _text(lot_result, "efac:TenderLot/cbc:ID")
            by_lot.setdefault(lot_id, []).append((number, lot_result))
        by_id = {
            kind: {_text(el, "cbc:ID"): el for el in result.findall(f"efac:{kind}", NS)}
            for kind in ("LotTender", "SettledContract", "TenderingParty")
        }
        tenders_by_lot: dict[str | None, list[Element]] = {}
        for tender in by_id["LotTender"].values():
            lot_id = _text(tender, "efac:TenderLot/cbc:ID")
            tenders_by_lot.setdefault(lot_id, []).append(tender)
        contracts_of: dict[str, list[Element]] = {}
        for contract in by_id["SettledContract"].values():
            for tender_id in _texts(contract, "efac:LotTender/cbc:ID"):
                contracts_of.setdefault(tender_id, []).append(contract)
        total = result.find("cbc:TotalAmount", NS)
        return cls(by_lot, tenders_by_lot, by_id, contracts_of, total)

    def of_lot(self, lot_id: str | None) -> list[Element]:
        """The results of a lot (a result naming no lot is every lot's), in notice order;
        every result when the notice has no lots."""
        keys = list(self.by_lot) if lot_id is None else [None, lot_id]
        found = [entry for key in dict.fromkeys(keys) for entry in self.by_lot.get(key, [])]
        return [element for _, element in sorted(found, key=lambda entry: entry[0])]

    def tenders_of_lot(self, lot_id: str | None) -> list[Element]:
        """The LotTenders of a lot (a tender naming no lot is every lot's); all of them when
        the notice has no lots."""
        keys = list(self.tenders_by_lot) if lot_id is None else [None, lot_id]
        return [t for key in dict.fromkeys(keys) for t in self.tenders_by_lot.get(key, [])]


@dataclass(frozen=True)
class AwardReader:
    """Reads the award of each lot of one notice."""

    results: Results
    orgs: dict[str, Party]
    zone: tzinfo
    single_lot: bool

    def fields(self, lot_id: str | None, warnings: FieldWarnings) -> dict[str, Any]:
        """The award fields of a lot (none when the notice says nothing of the lot); an
        unreadable amount or date leaves its field empty with a warning."""
        lot_results = self.results.of_lot(lot_id)
        codes = {_text(res, "cbc:TenderResultCode") for res in lot_results}
        tenders, contracts = self._named_winners(lot_results)
        if not tenders and not (codes and codes <= _NO_WINNER):
            tenders, contracts = self._unnamed_winners(lot_id)
        if not tenders and not lot_results:
            return {}
        award: dict[str, Any] = {}
        if tenders:
            award["status"] = "complete"
        elif codes and codes <= _NO_WINNER:
            award["status"] = RESULT_STATUS["open-nw" if "open-nw" in codes else "clos-nw"]
        if tenders:
            award.update(self._value(tenders, warnings))
        award.update(self._suppliers(tenders))
        award["awarded_at"] = self._date(contracts, warnings)
        return award

    def _named_winners(self, lot_results: list[Element]) -> tuple[list[Element], list[Element]]:
        """LotResult -> SettledContract -> LotTender, else LotResult -> LotTender."""
        by_id = self.results.by_id
        contract_ids = [
            c for res in lot_results for c in _texts(res, "efac:SettledContract/cbc:ID")
        ]
        known = by_id["SettledContract"]
        contracts = [known[c] for c in dict.fromkeys(contract_ids) if c in known]
        tender_ids = [t for c in contracts for t in _texts(c, "efac:LotTender/cbc:ID")] or [
            t for res in lot_results for t in _texts(res, "efac:LotTender/cbc:ID")
        ]
        known = by_id["LotTender"]
        return [known[t] for t in dict.fromkeys(tender_ids) if t in known], contracts

    def _unnamed_winners(self, lot_id: str | None) -> tuple[list[Element], list[Element]]:
        """The lot's tenders a contract names, else the one ranked 1, else its only tender."""
        tenders = self.results.tenders_of_lot(lot_id)
        contracted = [t for t in tenders if self.results.contracts_of.get(_text(t, "cbc:ID") or "")]
        if contracted:
            tenders = contracted
        elif len(tenders) > 1:
            tenders = [t for t in tenders if _text(t, "cbc:RankCode") == "1"][:1]
        contracts = [
            contract
            for tender in tenders
            for contract in self.results.contracts_of.get(_text(tender, "cbc:ID") or "", [])
        ]
        return tenders, list(dict.fromkeys(contracts))

    def _value(self, tenders: list[Element], warnings: FieldWarnings) -> dict[str, Any]:
        values: list[tuple[Decimal | None, str | None]] = []
        for tender in tenders:
            found = tender.find(_PAYABLE, NS)
            if found is None or not _content(found):
                continue
            value = money(found, "award_amount", warnings)
            if value[0] is None:
                return {}  # one unreadable amount: no sum is right
            values.append(value)
        if not values and self.single_lot and self.results.total is not None:
            values = [money(self.results.total, "award_amount", warnings)]
        values = [(a, c) for a, c in values if a is not None]
        if not values or len({c for _, c in values}) != 1:
            return {}
        total = sum((a for a, _ in values if a is not None), Decimal(0))
        return {"award_amount": total, "award_currency": values[0][1]}

    def _suppliers(self, tenders: list[Element]) -> dict[str, Any]:
        suppliers: dict[str, Party] = {}
        parties = self.results.by_id["TenderingParty"]
        for tender in tenders:
            party = parties.get(_text(tender, "efac:TenderingParty/cbc:ID"))
            if party is None:
                continue
            tenderers = party.findall("efac:Tenderer", NS)  # group leader first
            tenderers.sort(key=lambda t: _text(t, "efbc:GroupLeadIndicator") != "true")
            for org_id in (_text(t, "cbc:ID") for t in tenderers):
                if org_id:
                    suppliers.setdefault(org_id, self.orgs.get(org_id, Party(None, org_id, None)))
        names = [party.name for party in suppliers.values() if party.name]
        ids = [party.legal_id for party in suppliers.values() if party.legal_id]
        return {
            "supplier_name": "; ".join(dict.fromkeys(names)) or None,
            "supplier_id": "; ".join(dict.fromkeys(ids)) or None,
        }

    def _date(self, contracts: list[Element], warnings: FieldWarnings) -> datetime | None:
        """The winner decision date (BT-1451), else the contract conclusion date (BT-145),
        the earliest of the winners'; the notice-level cac:TenderResult/cbc:AwardDate is left
        alone (placeholder values seen)."""
        found = [_text(c, "cbc:AwardDate") or _text(c, "cbc:IssueDate") for c in contracts]
        dates = [warnings.take("awarded_at", self._day, text) for text in found if text]
        known = [date for date in dates if date is not None]
        return min(known) if known else None

    def _day(self, text: str) -> datetime | None:
        return _moment(text, None, default_time="00:00:00", zone=self.zone)


def reader_of(
    result: Element | None, orgs: dict[str, Party], zone: tzinfo, *, single_lot: bool
) -> AwardReader | None:
    return None if result is None else AwardReader(Results.of(result), orgs, zone, single_lot)
