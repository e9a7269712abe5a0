"""TED eForms (UBL 2.3) notices: one notice per stream, one `TenderRecord` per lot.

Identity (DESIGN.md): source `ted`, procedure = `cbc:ContractFolderID`, lot = the lot's `cbc:ID`
("LOT-0001"); LotsGroup and Part entries are not lots. A change notice repeats the folder and lot
ids with a later issue date, so it updates the same rows. The XML is parsed without DTDs,
entities or network access; a notice that declares a DOCTYPE is refused outright.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, BinaryIO

from lxml import etree

from src.domain.tender.schemas import RejectedRecord, TenderRecord
from src.readers.common import ReadStream
from src.readers.eforms_xml import NS, notice_bytes
from src.readers.eforms_xml import amount as _amount
from src.readers.eforms_xml import content as _content
from src.readers.eforms_xml import lang_text as _lang_text
from src.readers.eforms_xml import moment as _datetime
from src.readers.eforms_xml import notice_text as _notice_text
from src.readers.eforms_xml import text as _text
from src.readers.eforms_xml import texts as _texts
from src.readers.items import ReadItem

__all__ = ["NS", "EformsError", "notice_bytes", "read_eforms"]

UBL_NS_PREFIX = "urn:oasis:names:specification:ubl:schema:xsd:"
MAX_NOTICE_BYTES = 50 * 1024 * 1024  # real notices are well under 1 MB
_EXT = "ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/efext:EformsExtension"
_RESULT = f"{_EXT}/efac:NoticeResult"
_DOCTYPE = (b"<!DOCTYPE", "<!DOCTYPE".encode("utf-16-le"), "<!DOCTYPE".encode("utf-16-be"))
_NO_COMPANY_ID = frozenset({"", "-", "n/a", "na", "none", "not available", "unknown"})
# winner-selection-status (BT-142) -> tender status of the lot
_RESULT_STATUS = {"selec-w": "complete", "clos-nw": "unsuccessful", "open-nw": "active"}


class EformsError(ValueError):
    """A notice that cannot be mapped as a whole (becomes one RejectedRecord)."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
    )


def read_eforms(
    stream: BinaryIO, *, source_url: str | None = None, position: str | None = None
) -> ReadStream:
    """Yield one TenderRecord per lot of the notice in `stream`, or RejectedRecords."""
    data = stream.read(MAX_NOTICE_BYTES + 1)
    if isinstance(data, str):  # tolerate a text stream
        data = data.encode()
    if len(data) > MAX_NOTICE_BYTES:
        yield RejectedRecord.of(f"notice larger than {MAX_NOTICE_BYTES} bytes", position, data)
        return
    try:
        root = _parse(data)
        notice = _Notice(root, data)
    except ValueError as error:  # EformsError, or a notice-level date / amount
        yield RejectedRecord.of(str(error), position, data)
        return
    yield from notice.records(source_url=source_url, position=position)


def _parse(data: bytes) -> etree._Element:
    """Refuse any DOCTYPE before parsing (so entity bombs never reach libxml2), then parse with
    a parser that resolves nothing, and check the parsed document has no DTD either."""
    if any(marker in data for marker in _DOCTYPE):
        raise EformsError("DTD/entity declarations are not allowed in an eForms notice (<!DOCTYPE)")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as error:
        raise EformsError(f"not well-formed XML: {error}") from None
    info = root.getroottree().docinfo
    doctype: str = getattr(info, "doctype", "")  # not in lxml-stubs
    if doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise EformsError("DTD/entity declarations are not allowed in an eForms notice")
    return root


@dataclass(frozen=True)
class _Results:
    """A notice's results (efac:NoticeResult), indexed once for all its lots (rescanning them
    for every lot made a notice of 4,000 lots take minutes): each lot's LotResults, and the
    tenders, contracts and tendering parties by id (the last of an id wins)."""

    by_lot: dict[str | None, list[tuple[int, etree._Element]]]  # TenderLot id -> results
    by_id: dict[str, dict[str | None, etree._Element]]  # kind -> id -> element

    @classmethod
    def of(cls, result: etree._Element) -> _Results:
        by_lot: dict[str | None, list[tuple[int, etree._Element]]] = {}
        for number, lot_result in enumerate(result.findall("efac:LotResult", NS)):
            lot_id = _text(lot_result, "efac:TenderLot/cbc:ID")
            by_lot.setdefault(lot_id, []).append((number, lot_result))
        by_id = {
            kind: {_text(el, "cbc:ID"): el for el in result.findall(f"efac:{kind}", NS)}
            for kind in ("LotTender", "SettledContract", "TenderingParty")
        }
        return cls(by_lot, by_id)

    def of_lot(self, lot_id: str | None) -> list[etree._Element]:
        """The results of a lot (a result naming no lot is every lot's), in notice order;
        every result when the notice has no lots."""
        keys = list(self.by_lot) if lot_id is None else [None, lot_id]
        found = [entry for key in dict.fromkeys(keys) for entry in self.by_lot.get(key, [])]
        return [element for _, element in sorted(found, key=lambda entry: entry[0])]


class _Notice:
    """Notice-level facts, computed once; `records` maps each lot."""

    def __init__(self, root: etree._Element, data: bytes) -> None:
        qname = etree.QName(root)
        self.root, self.kind = root, qname.localname
        if not (qname.namespace or "").startswith(UBL_NS_PREFIX):
            raise EformsError(f"not a UBL eForms notice: root element {root.tag!r}")
        if self.kind not in ("ContractNotice", "ContractAwardNotice", "PriorInformationNotice"):
            raise EformsError(f"unsupported eForms document {self.kind}")
        self.notice_id = _text(root, "cbc:ID[@schemeName='notice-id']") or _text(root, "cbc:ID")
        self.procedure_id = _text(root, "cbc:ContractFolderID") or self.notice_id
        if not self.procedure_id:
            raise EformsError(f"{self.kind} without ContractFolderID nor notice id")
        self.language = (_text(root, "cbc:NoticeLanguageCode") or "").upper() or None
        self.notice_type = _text(root, "cbc:NoticeTypeCode")
        # dispatch moment; a change notice is issued later, so its data wins
        self.issued_at = _datetime(
            _text(root, "cbc:IssueDate"), _text(root, "cbc:IssueTime"), default_time="00:00:00"
        )
        self.project = root.find("cac:ProcurementProject", NS)
        self.procedure_type = _text(root, "cac:TenderingProcess/cbc:ProcedureCode")
        result = root.find(_RESULT, NS)
        self.results = None if result is None else _Results.of(result)
        self.orgs = self._organizations()
        self.buyer_name, self.buyer_id = self.orgs.get(
            _text(root, "cac:ContractingParty/cac:Party/cac:PartyIdentification/cbc:ID") or "",
            (None, None),
        )
        reasons = _texts(root, f"{_EXT}/efac:Changes/efac:ChangeReason/cbc:ReasonCode")
        self.cancelled = "cancel" in reasons
        self.raw: dict[str, Any] = {
            "notice_id": self.notice_id,
            "notice_type": self.notice_type,
            "subtype": _text(root, f"{_EXT}/efac:NoticeSubType/cbc:SubTypeCode"),
            "document": self.kind,
            "version": _text(root, "cbc:VersionID"),
            "language": self.language,
            "changed_notice_id": _text(root, f"{_EXT}/efac:Changes/efbc:ChangedNoticeIdentifier")
            or _text(root, f"{_EXT}/efac:ContractModification/efbc:ChangedNoticeIdentifier"),
            "xml": _notice_text(data, root),
        }

    def _organizations(self) -> dict[str, tuple[str | None, str | None]]:
        """ORG-xxxx -> (name, legal id or the ORG id)."""
        orgs: dict[str, tuple[str | None, str | None]] = {}
        path = f"{_EXT}/efac:Organizations/efac:Organization/efac:Company"
        for company in self.root.findall(path, NS):
            org_id = _text(company, "cac:PartyIdentification/cbc:ID")
            if not org_id:
                continue
            legal = _text(company, "cac:PartyLegalEntity/cbc:CompanyID")
            if legal is None or legal.lower() in _NO_COMPANY_ID:
                legal = org_id
            orgs[org_id] = (_lang_text(company, "cac:PartyName/cbc:Name", self.language), legal)
        return orgs

    def _default_status(self) -> str:
        if self.cancelled:
            return "cancelled"
        if self.kind == "PriorInformationNotice":
            return "active" if (self.notice_type or "").startswith("pin-cfc") else "planned"
        return "complete" if self.kind == "ContractAwardNotice" else "active"

    def records(self, *, source_url: str | None, position: str | None) -> Iterator[ReadItem]:
        all_lots = self.root.findall("cac:ProcurementProjectLot", NS)
        entries: list[tuple[int, etree._Element | None]] = [
            (index, lot) for index, lot in enumerate(all_lots, 1) if _is_lot(lot)
        ] or [(0, None)]  # no lots: the procedure is one lot
        for index, lot in entries:
            xpath = f"/{self.kind}" + ("" if lot is None else f"/ProcurementProjectLot[{index}]")
            where = xpath if position is None else f"{position} {xpath}"
            lot_id = None if lot is None else _text(lot, "cbc:ID")
            try:
                fields = self._lot_fields(lot, lot_id, single=len(entries) == 1)
                record = TenderRecord(**fields, source_url=source_url, position=where, raw=None)
            except ValueError as error:  # pydantic's ValidationError is a ValueError
                reason = f"notice {self.notice_id}, lot {lot_id or '-'}: {error}"
                snippet = (
                    self.raw["xml"] if lot is None else etree.tostring(lot, encoding="unicode")
                )
                yield RejectedRecord.of(reason, where, snippet)
                continue
            record.raw = self.raw  # validation copies dicts: one shared object for all lots
            yield record

    def _lot_fields(
        self, lot: etree._Element | None, lot_id: str | None, *, single: bool
    ) -> dict[str, Any]:
        project = None if lot is None else lot.find("cac:ProcurementProject", NS)
        lang = self.language

        def pick(path: str) -> str | None:
            return _lang_text(project, path, lang) or _lang_text(self.project, path, lang)

        cpv_path = "cac:MainCommodityClassification/cbc:ItemClassificationCode[@listName='cpv']"
        cpv = (None if project is None else _text(project, cpv_path)) or (
            None if self.project is None else _text(self.project, cpv_path)
        )
        value_path = "cac:RequestedTenderTotal/cbc:EstimatedOverallContractAmount"
        amount, currency = _amount(project, value_path)
        if amount is None and single:
            amount, currency = _amount(self.project, value_path)
        deadline = None
        if lot is not None:
            # A deadline given as a date only means the end of that day (23:59:59 in the date's
            # offset). Without a tender deadline, the request-to-participate deadline is used
            # (restricted / negotiated procedures publish only that one).
            for period in ("TenderSubmissionDeadlinePeriod", "ParticipationRequestReceptionPeriod"):
                base = f"cac:TenderingProcess/cac:{period}"
                deadline = _datetime(
                    _text(lot, f"{base}/cbc:EndDate"),
                    _text(lot, f"{base}/cbc:EndTime"),
                    default_time="23:59:59",
                )
                if deadline is not None:
                    break
        fields: dict[str, Any] = {
            "source": "ted",
            "format": "eforms",
            "procedure_id": self.procedure_id,
            "lot_id": lot_id,
            "buyer_name": self.buyer_name,
            "buyer_id": self.buyer_id,
            "published_at": self.issued_at,
            "source_updated_at": self.issued_at,
            "title": " ".join((pick("cbc:Name") or "").split()),  # names may span lines
            "description": pick("cbc:Description"),
            "cpv": cpv,
            "procedure_type": self.procedure_type,
            "status": self._default_status(),
            "amount": amount,
            "currency": currency,
            "deadline_at": deadline,
        }
        if self.kind == "ContractAwardNotice":
            fields.update(self._award(lot_id))
            if self.cancelled:
                fields["status"] = "cancelled"
        return fields

    def _award(self, lot_id: str | None) -> dict[str, Any]:
        """Follow LotResult -> SettledContract -> LotTender -> TenderingParty -> Organization."""
        results = [] if self.results is None else self.results.of_lot(lot_id)
        if not results or self.results is None:
            return {}
        by_id = self.results.by_id
        codes = {_text(res, "cbc:TenderResultCode") for res in results}
        contract_ids = [c for res in results for c in _texts(res, "efac:SettledContract/cbc:ID")]
        known = by_id["SettledContract"]
        contracts = [known[c] for c in contract_ids if c in known]
        tender_ids = [t for c in contracts for t in _texts(c, "efac:LotTender/cbc:ID")] or [
            t for res in results for t in _texts(res, "efac:LotTender/cbc:ID")
        ]
        known = by_id["LotTender"]
        tenders = [known[t] for t in dict.fromkeys(tender_ids) if t in known]
        award: dict[str, Any] = {}
        if tenders:
            award["status"] = "complete"
        elif codes and codes <= {"clos-nw", "open-nw"}:
            award["status"] = _RESULT_STATUS["open-nw" if "open-nw" in codes else "clos-nw"]
        values = [_amount(t, "cac:LegalMonetaryTotal/cbc:PayableAmount") for t in tenders]
        values = [(a, c) for a, c in values if a is not None]
        if values and len({c for _, c in values}) == 1:
            award["award_amount"] = sum((a for a, _ in values if a is not None), Decimal(0))
            award["award_currency"] = values[0][1]
        suppliers: dict[str, tuple[str | None, str | None]] = {}
        for tender in tenders:
            party = by_id["TenderingParty"].get(_text(tender, "efac:TenderingParty/cbc:ID"))
            if party is None:
                continue
            tenderers = party.findall("efac:Tenderer", NS)  # group leader first
            tenderers.sort(key=lambda t: _text(t, "efbc:GroupLeadIndicator") != "true")
            for org_id in (_text(t, "cbc:ID") for t in tenderers):
                if org_id:
                    suppliers.setdefault(org_id, self.orgs.get(org_id, (None, org_id)))
        names = [name for name, _ in suppliers.values() if name]
        ids = [legal for _, legal in suppliers.values() if legal]
        award["supplier_name"] = "; ".join(dict.fromkeys(names)) or None
        award["supplier_id"] = "; ".join(dict.fromkeys(ids)) or None
        # winner decision date (BT-1451), else the contract conclusion date (BT-145); the
        # notice-level cac:TenderResult/cbc:AwardDate is left alone (placeholder values seen)
        day = "00:00:00"
        found = [_text(c, "cbc:AwardDate") or _text(c, "cbc:IssueDate") for c in contracts]
        dates = [moment for text in found if (moment := _datetime(text, None, default_time=day))]
        award["awarded_at"] = min(dates) if dates else None
        return award


def _is_lot(lot: etree._Element) -> bool:
    """A real lot: `cbc:ID schemeName="Lot"` (LotsGroup / Part entries are not lots)."""
    found = lot.find("cbc:ID", NS)
    if found is None:
        return False
    scheme = found.get("schemeName")
    return scheme == "Lot" or (scheme is None and (_content(found) or "").startswith("LOT-"))
