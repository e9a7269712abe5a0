"""The award and status a PVL lot states (award notices, "esiti", and direct awards).

Winners are in `aggiudicatari` (eForms-based forms) or `aggiudicatari_ad` (direct awards):
groups `{importo, soggetti: [{denominazione, codice_fiscale}]}`. Their names and fiscal codes
are joined with "; " as other formats join suppliers. The award amount is the lot's winning
offer (`valore_offerta_vincente`) or direct-award value (`valore_affidamento`); without either,
the largest group `importo` (several winners of one lot are a framework agreement with several
operators, whose amounts are each the framework's ceiling, not shares to add up). The award
date only when the notice states one (`data_aggiudicazione`, ...): the notice's publication is
not the award's date.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from src.readers.anac_values import amount, joined, pvl_timestamp, take_column
from src.readers.common import clean_text
from src.readers.fields import FieldWarnings

_GROUPS = ("aggiudicatari", "aggiudicatari_ad")
_AMOUNTS = ("valore_offerta_vincente", "valore_affidamento", "importo_aggiudicazione")
_DATES = ("data_aggiudicazione", "data_aggiudicazione_definitiva", "data_affidamento")


def _objects(value: object) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (v for v in value if isinstance(v, Mapping))
    elif isinstance(value, Mapping):
        yield value


def award_fields(lot: Mapping[str, Any], warnings: FieldWarnings) -> dict[str, Any]:
    """The award columns a lot states (an empty dict when it states no award)."""
    groups = [group for key in _GROUPS for group in _objects(lot.get(key))]
    winners = [s for group in groups for s in _objects(group.get("soggetti"))]
    key = next((k for k in _AMOUNTS if lot.get(k) is not None), None)
    if key is not None:
        award_amount = take_column(warnings, "award_amount", key, amount, lot.get(key))
    else:
        award_amount = _largest_group_amount(groups, warnings)
    awarded_at = _award_date(lot, groups, warnings)
    if not (winners or key or award_amount is not None or awarded_at is not None):
        return {}
    return {
        "award_amount": award_amount,
        "award_currency": "EUR" if award_amount is not None else None,
        "awarded_at": awarded_at,
        "supplier_name": joined(clean_text(s.get("denominazione")) for s in winners),
        "supplier_id": joined(clean_text(s.get("codice_fiscale")) for s in winners),
    }


def _largest_group_amount(
    groups: list[Mapping[str, Any]], warnings: FieldWarnings
) -> Decimal | None:
    amounts = [
        take_column(warnings, "award_amount", "aggiudicatari.importo", amount, g.get("importo"))
        for g in groups
    ]
    known = [value for value in amounts if value is not None]
    return max(known) if known else None


def _award_date(
    lot: Mapping[str, Any], groups: list[Mapping[str, Any]], warnings: FieldWarnings
) -> datetime | None:
    for container in (lot, *groups):
        for key in _DATES:
            if container.get(key):
                return take_column(warnings, "awarded_at", key, pvl_timestamp, container[key])
    return None


def lot_status(
    lot: Mapping[str, Any], award: Mapping[str, Any], deadline_at: datetime | None
) -> str | None:
    """`cancelled` for a notice of cancellation or revocation; `complete` once the lot states
    an award (or is the object of a modification of its contract, tipo_oggetto
    aggiudicazione); `active` for a lot open to offers; else None (not stated)."""
    kind = (clean_text(lot.get("tipo_oggetto")) or "").lower()
    revoked = lot.get("comunicazione_annullamento_revoca")
    if revoked and (clean_text(revoked) or "").lower() not in ("false", "no", "0"):
        return "cancelled"
    if award or kind == "aggiudicazione":
        return "complete"
    if kind == "lotto" or deadline_at is not None:
        return "active"
    return None
