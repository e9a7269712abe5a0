"""TED eForms (UBL 2.3) notices: one notice per stream, one `TenderRecord` per lot.

Identity (DESIGN.md): source `ted`, procedure = `cbc:ContractFolderID`, lot = the lot's `cbc:ID`
("LOT-0001"); LotsGroup and Part entries are not lots. Every notice (CN, change notice, CAN,
PIN, VEAT) is a publication of its own, under its notice id and version (`document_key`), and
states only what it says: a field the notice does not give is None (an award notice has no
deadline), so merging the notices of a lot field by field gives its state in any order.
Dates without an offset are local time of the buyer's country (UTC when unknown); a bad
secondary field is left empty with a warning (only an unreadable notice, or one without
ContractFolderID nor notice id, is rejected). The XML is parsed without DTDs, entities or
network access; a notice that declares a DOCTYPE is refused outright.

The place of performance (`nuts`) is the lot's first place with a NUTS code (BT-5071), an
extra-regio `..ZZZ` ("not specified") skipped, else the procedure's; a code that is not one is
no place, without a warning (`readers.nuts`). `LU000` is kept as published: it is Luxembourg's
one NUTS 3 region, and in the SDK's examples it stands in an address in Luxembourg.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, BinaryIO

from lxml import etree

from src.domain.tender.schemas import FieldWarning, RejectedRecord
from src.readers.common import ReadStream
from src.readers.eforms_awards import Party, reader_of
from src.readers.eforms_xml import NS, money, notice_bytes
from src.readers.eforms_xml import content as _content
from src.readers.eforms_xml import lang_text as _lang_text
from src.readers.eforms_xml import moment as _datetime
from src.readers.eforms_xml import notice_text as _notice_text
from src.readers.eforms_xml import text as _text
from src.readers.eforms_xml import texts as _texts
from src.readers.fields import FieldWarnings, build_record
from src.readers.items import ReadItem
from src.readers.nuts import nuts_code
from src.readers.zones import zone_or_utc

__all__ = ["NS", "EformsError", "notice_bytes", "read_eforms"]

UBL_NS_PREFIX = "urn:oasis:names:specification:ubl:schema:xsd:"
MAX_NOTICE_BYTES = 50 * 1024 * 1024  # real notices are well under 1 MB
_EXT = "ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/efext:EformsExtension"
_RESULT = f"{_EXT}/efac:NoticeResult"
_DOCTYPE = (b"<!DOCTYPE", "<!DOCTYPE".encode("utf-16-le"), "<!DOCTYPE".encode("utf-16-be"))
_NO_COMPANY_ID = frozenset({"", "-", "n/a", "na", "none", "not available", "unknown"})
_CPV = "cac:MainCommodityClassification/cbc:ItemClassificationCode[@listName='cpv']"
_ESTIMATE = "cac:RequestedTenderTotal/cbc:EstimatedOverallContractAmount"
# A lot's deadline, the first stated: for tenders (BT-131); else for requests to participate
# (BT-1311: restricted and negotiated procedures publish only that one); else for expressions
# of interest (BT-630: a PIN used as a call for competition, pin-cfc-*).
_DEADLINES = (
    "cac:TenderingProcess/cac:TenderSubmissionDeadlinePeriod",
    "cac:TenderingProcess/cac:ParticipationRequestReceptionPeriod",
    f"cac:TenderingProcess/{_EXT}/efac:InterestExpressionReceptionPeriod",
)
_PLACES = "cac:RealizedLocation/cac:Address"
_PLACE_NUTS = "cbc:CountrySubentityCode[@listName='nuts']"
_PLACE_COUNTRY = "cac:Country/cbc:IdentificationCode"


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
    except EformsError as error:
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
        version = _text(root, "cbc:VersionID")
        # Every notice is a publication of its own (a CN and its CAN both kept): the notice
        # id and version, as a change notice names the notice it changes.
        self.document_key = (
            f"{self.notice_id}-{version}" if self.notice_id and version else self.notice_id
        )
        self.language = (_text(root, "cbc:NoticeLanguageCode") or "").upper() or None
        self.notice_type = _text(root, "cbc:NoticeTypeCode")
        self.project = root.find("cac:ProcurementProject", NS)
        self.place = _Place.of(self.project)
        self.procedure_type = _text(root, "cac:TenderingProcess/cbc:ProcedureCode")
        self.orgs = self._organizations()
        self._buyers()
        self.warnings = FieldWarnings()
        self.issued_at = self._issued_at()
        reasons = _texts(root, f"{_EXT}/efac:Changes/efac:ChangeReason/cbc:ReasonCode")
        self.cancelled = "cancel" in reasons
        self.raw: dict[str, Any] = {
            "notice_id": self.notice_id,
            "notice_type": self.notice_type,
            "subtype": _text(root, f"{_EXT}/efac:NoticeSubType/cbc:SubTypeCode"),
            "document": self.kind,
            "version": version,
            "language": self.language,
            "changed_notice_id": _text(root, f"{_EXT}/efac:Changes/efbc:ChangedNoticeIdentifier")
            or _text(root, f"{_EXT}/efac:ContractModification/efbc:ChangedNoticeIdentifier"),
            "xml": _notice_text(data, root),
        }

    def _organizations(self) -> dict[str, Party]:
        """ORG-xxxx -> the organisation (name, legal id or the ORG id, country)."""
        orgs: dict[str, Party] = {}
        for organization in self.root.findall(f"{_EXT}/efac:Organizations/efac:Organization", NS):
            company = organization.find("efac:Company", NS)
            org_id = None if company is None else _text(company, "cac:PartyIdentification/cbc:ID")
            if company is None or not org_id:
                continue
            legal = _text(company, "cac:PartyLegalEntity/cbc:CompanyID")
            if legal is None or legal.lower() in _NO_COMPANY_ID:
                legal = org_id
            orgs[org_id] = Party(
                name=_lang_text(company, "cac:PartyName/cbc:Name", self.language),
                legal_id=legal,
                country=_text(company, "cac:PostalAddress/cac:Country/cbc:IdentificationCode"),
                lead=_text(organization, "efbc:GroupLeadIndicator") == "true",
            )
        return orgs

    def _buyers(self) -> None:
        """Every buyer (joint procurement: names joined with "; "), the lead buyer's id (the
        one marked group lead, else the first), and the time zone of the lead buyer's
        country for dates written without an offset (UTC when unknown)."""
        path = "cac:ContractingParty/cac:Party/cac:PartyIdentification/cbc:ID"
        buyers = [
            self.orgs[org] for org in dict.fromkeys(_texts(self.root, path)) if org in self.orgs
        ]
        buyers.sort(key=lambda party: not party.lead)
        names = [party.name for party in buyers if party.name]
        self.buyer_name = "; ".join(dict.fromkeys(names)) or None
        self.buyer_id = buyers[0].legal_id if buyers else None
        self.zone = zone_or_utc(*(party.country for party in buyers))

    def _issued_at(self) -> datetime | None:
        """The dispatch moment (BT-05): when the notice was issued, and its version's date (a
        change notice is issued later, so its data wins). Unreadable: a warning, both empty."""
        day, clock = _text(self.root, "cbc:IssueDate"), _text(self.root, "cbc:IssueTime")
        try:
            return _datetime(day, clock, default_time="00:00:00", zone=self.zone)
        except ValueError as error:
            raw = " ".join(part for part in (day, clock) if part)
            for field in ("published_at", "source_updated_at"):
                self.warnings.append(FieldWarning.of(field, f"notice issue date: {error}", raw))
            return None

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
        single = len(entries) == 1
        result = self.root.find(_RESULT, NS) if self.kind == "ContractAwardNotice" else None
        awards = reader_of(result, self.orgs, self.zone, single_lot=single)
        for index, lot in entries:
            xpath = f"/{self.kind}" + ("" if lot is None else f"/ProcurementProjectLot[{index}]")
            where = xpath if position is None else f"{position} {xpath}"
            lot_id = None if lot is None else _text(lot, "cbc:ID")
            warnings = FieldWarnings(self.warnings)
            fields = self._lot_fields(lot, lot_id, single=single, warnings=warnings)
            if awards is not None:
                fields.update(awards.fields(lot_id, warnings))
            if self.cancelled:
                fields["status"] = "cancelled"
            fields.update(source_url=source_url, position=where, raw=None)
            try:
                record = build_record(fields, warnings)
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
        self,
        lot: etree._Element | None,
        lot_id: str | None,
        *,
        single: bool,
        warnings: FieldWarnings,
    ) -> dict[str, Any]:
        """What the notice states of a lot; what it does not state is None (a later notice
        that leaves a field out must not erase what an earlier one said)."""
        project = None if lot is None else lot.find("cac:ProcurementProject", NS)
        lang = self.language

        def pick(path: str) -> str | None:
            return _lang_text(project, path, lang) or _lang_text(self.project, path, lang)

        cpv = (None if project is None else _text(project, _CPV)) or (
            None if self.project is None else _text(self.project, _CPV)
        )
        estimate = None if project is None else project.find(_ESTIMATE, NS)
        if estimate is None and single and self.project is not None:
            estimate = self.project.find(_ESTIMATE, NS)
        amount, currency = money(estimate, "amount", warnings)
        return {
            "source": "ted",
            "format": "eforms",
            "procedure_id": self.procedure_id,
            "lot_id": lot_id,
            "document_key": self.document_key,
            "buyer_name": self.buyer_name,
            "buyer_id": self.buyer_id,
            "published_at": self.issued_at,
            "source_updated_at": self.issued_at,
            "title": " ".join((pick("cbc:Name") or "").split()),  # names may span lines
            "description": pick("cbc:Description"),
            "cpv": cpv,
            "nuts": self._nuts(project),
            "procedure_type": self.procedure_type,
            "status": self._default_status(),
            "amount": amount,
            "currency": currency,
            "deadline_at": None if lot is None else self._deadline(lot, warnings),
        }

    def _nuts(self, project: etree._Element | None) -> str | None:
        """The lot's place of performance (`_Place`), else the procedure's, unless the lot
        names only places in other countries than that (cn_81_FRA: the procedure in FRL04,
        its lot "anywhere in the United Kingdom", which is no place in France)."""
        own = _Place.of(project)
        if own.nuts is not None:
            return own.nuts
        procedure = self.place
        if procedure.country and own.countries and procedure.country not in own.countries:
            return None
        return procedure.nuts

    def _deadline(self, lot: etree._Element, warnings: FieldWarnings) -> datetime | None:
        """The first deadline the lot states (see _DEADLINES). A date without a time is the
        end of that day (23:59:59); an unreadable one is None with a warning."""
        for path in _DEADLINES:
            day, clock = _text(lot, f"{path}/cbc:EndDate"), _text(lot, f"{path}/cbc:EndTime")
            if day:
                raw = " ".join(part for part in (day, clock) if part)
                return warnings.take("deadline_at", partial(self._end_of_day, day, clock), raw)
        return None

    def _end_of_day(self, day: str, clock: str | None, _raw: str) -> datetime | None:
        return _datetime(day, clock, default_time="23:59:59", zone=self.zone)


def _is_lot(lot: etree._Element) -> bool:
    """A real lot: `cbc:ID schemeName="Lot"` (LotsGroup / Part entries are not lots)."""
    found = lot.find("cbc:ID", NS)
    if found is None:
        return False
    scheme = found.get("schemeName")
    return scheme == "Lot" or (scheme is None and (_content(found) or "").startswith("LOT-"))


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a project (a lot's or the procedure's) is performed: the NUTS code (BT-5071) of
    the first of its places that has a real one (`..ZZZ`, no region given, is skipped: see
    `readers.nuts`), the country (BT-5141) of that place, and the countries of all."""

    nuts: str | None
    country: str | None
    countries: frozenset[str]

    @classmethod
    def of(cls, project: etree._Element | None) -> _Place:
        addresses = [] if project is None else project.findall(_PLACES, NS)
        countries = frozenset(c for a in addresses if (c := _text(a, _PLACE_COUNTRY)))
        for address in addresses:
            code = nuts_code(_text(address, _PLACE_NUTS))
            if code is not None:
                return cls(code, _text(address, _PLACE_COUNTRY), countries)
        return cls(None, None, countries)
