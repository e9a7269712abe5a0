"""Single documents with many lots: an eForms award notice (each lot its result, tender,
contract, tendering party and winner) and an OCDS release (each lot its CPV item and award),
for the tests and the benchmark of mapping cost per lot."""

from __future__ import annotations

from typing import Any

from tests.support.paths import FIXTURES

_AWARD_NOTICE = FIXTURES / "eforms" / "can_2lots_ita.xml"


def lot_cpv(lot: int) -> str:
    """The CPV code of a lot (every lot its own), with its check digit position filled."""
    return f"{45000000 + lot:08d}-{lot % 10}"


def award_notice(lots: int) -> bytes:
    """can_2lots_ita.xml with `lots` lots instead of two: lot i (LOT-i, from 1) is won by
    organisation ORG-(i+10) "Impresa i" for 1000 + i euros."""
    text = _AWARD_NOTICE.read_text(encoding="utf-8")
    results, tenders, contracts, parties, organisations, lot_parts = [], [], [], [], [], []
    for i in range(1, lots + 1):
        results.append(
            f'<efac:LotResult><cbc:ID schemeName="result">RES-{i:04d}</cbc:ID>'
            '<cbc:TenderResultCode listName="winner-selection-status">selec-w'
            "</cbc:TenderResultCode>"
            f"<efac:LotTender><cbc:ID>TEN-{i:04d}</cbc:ID></efac:LotTender>"
            f"<efac:SettledContract><cbc:ID>CON-{i:04d}</cbc:ID></efac:SettledContract>"
            f"<efac:TenderLot><cbc:ID>LOT-{i:04d}</cbc:ID></efac:TenderLot></efac:LotResult>\n"
        )
        tenders.append(
            f"<efac:LotTender><cbc:ID>TEN-{i:04d}</cbc:ID><cac:LegalMonetaryTotal>"
            f'<cbc:PayableAmount currencyID="EUR">{1000 + i}</cbc:PayableAmount>'
            "</cac:LegalMonetaryTotal>"
            f"<efac:TenderingParty><cbc:ID>TPA-{i:04d}</cbc:ID></efac:TenderingParty>"
            f"<efac:TenderLot><cbc:ID>LOT-{i:04d}</cbc:ID></efac:TenderLot></efac:LotTender>\n"
        )
        contracts.append(
            f"<efac:SettledContract><cbc:ID>CON-{i:04d}</cbc:ID>"
            "<cbc:AwardDate>2024-06-03+02:00</cbc:AwardDate>"
            f"<efac:LotTender><cbc:ID>TEN-{i:04d}</cbc:ID></efac:LotTender>"
            "</efac:SettledContract>\n"
        )
        parties.append(
            f"<efac:TenderingParty><cbc:ID>TPA-{i:04d}</cbc:ID><efac:Tenderer>"
            f"<cbc:ID>ORG-{i + 10:04d}</cbc:ID></efac:Tenderer></efac:TenderingParty>\n"
        )
        organisations.append(
            "<efac:Organization><efac:Company><cac:PartyIdentification>"
            f"<cbc:ID>ORG-{i + 10:04d}</cbc:ID></cac:PartyIdentification><cac:PartyName>"
            f'<cbc:Name languageID="ITA">Impresa {i}</cbc:Name></cac:PartyName>'
            "</efac:Company></efac:Organization>\n"
        )
        lot_parts.append(
            f'<cac:ProcurementProjectLot><cbc:ID schemeName="Lot">LOT-{i:04d}</cbc:ID>'
            f'<cac:ProcurementProject><cbc:Name languageID="ITA">Lotto {i}</cbc:Name>'
            "<cac:MainCommodityClassification>"
            f'<cbc:ItemClassificationCode listName="cpv">{lot_cpv(i)[:8]}'
            "</cbc:ItemClassificationCode></cac:MainCommodityClassification>"
            "</cac:ProcurementProject></cac:ProcurementProjectLot>\n"
        )
    text = _between(text, "<efac:NoticeResult>", "<efac:NoticeSubType>", "".join(
        [*results, *tenders, *contracts, *parties, "</efac:NoticeResult>\n"]
    ))  # fmt: skip
    text = text.replace("</efac:Organizations>", "".join(organisations) + "</efac:Organizations>")
    return _between(
        text, "</cac:ProcurementProject>\n", "</ContractAwardNotice>", "".join(lot_parts)
    ).encode()


def _between(text: str, start: str, end: str, new: str) -> str:
    """`text` with what lies between the first `start` and the next `end` replaced."""
    first = text.index(start) + len(start)
    return text[:first] + new + text[text.index(end, first) :]


def release_with_lots(lots: int, *, awards: bool = True) -> dict[str, Any]:
    """One OCDS compiled release of `lots` lots: lot i (L-i) has its CPV item and, with
    `awards`, its award of i euros to supplier S-i; one more item belongs to no lot."""
    items: list[dict[str, Any]] = [
        {
            "id": f"I-{i}",
            "relatedLot": f"L-{i}",
            "classification": {"scheme": "CPV", "id": lot_cpv(i)},
        }
        for i in range(lots)
    ]
    items.append({"id": "I-all", "classification": {"scheme": "UNSPSC", "id": "1"}})
    release: dict[str, Any] = {
        "ocid": "ocds-abc123-many-lots",
        "id": "r1",
        "date": "2025-01-01T00:00:00Z",
        "tag": ["compiled"],
        "tender": {
            "id": "many-lots",
            "title": "A framework of many lots",
            "lots": [{"id": f"L-{i}", "title": f"Lot {i}"} for i in range(lots)],
            "items": items,
        },
    }
    if awards:
        release["awards"] = [
            {
                "id": f"A-{i}",
                "status": "active",
                "date": "2025-01-01T00:00:00Z",
                "relatedLots": [f"L-{i}"],
                "value": {"amount": i, "currency": "EUR"},
                "suppliers": [{"id": f"S-{i}", "name": f"Supplier {i}"}],
            }
            for i in range(lots)
        ]
    return release


def release_with_shared_awards(lots: int, awards: int) -> dict[str, Any]:
    """`release_with_lots(lots)` whose first `awards` awards each name every lot (a framework
    awarded to several suppliers): every lot has every award."""
    release = release_with_lots(lots)
    every_lot = [lot["id"] for lot in release["tender"]["lots"]]
    release["awards"] = [{**a, "relatedLots": every_lot} for a in release["awards"][:awards]]
    return release
