"""The merge of a tender's notices, field by field (no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from src.domain.tender.notices import merge_notices
from src.domain.tender.schemas import TenderRecord


def notice(key: str, day: int, **fields: Any) -> TenderRecord:
    at = datetime(2024, 3, day, tzinfo=UTC)
    base: dict[str, Any] = {"source": "ted", "procedure_id": "P", "lot_id": "LOT-0001"}
    return TenderRecord(
        **base,
        format="eforms",
        document_key=key,
        published_at=at,
        source_updated_at=at,
        **{"title": "Pulizie", **fields},
    )


def test_a_later_notice_sets_what_it_states_and_keeps_the_rest() -> None:
    cn = notice(
        "cn", 1, status="active", amount=Decimal(100), deadline_at=datetime(2024, 4, 1, tzinfo=UTC)
    )
    change = notice("change", 5, status="active", deadline_at=datetime(2024, 4, 9, tzinfo=UTC))
    can = notice("can", 20, status="complete", award_amount=Decimal(90), supplier_name="ACME")
    forward = merge_notices([cn, change, can], base=can)
    backward = merge_notices([can, change, cn], base=cn)
    assert forward.hashed_fields() == backward.hashed_fields()
    assert forward.deadline_at == datetime(2024, 4, 9, tzinfo=UTC)  # moved by the change
    assert (forward.amount, forward.award_amount) == (Decimal(100), Decimal(90))
    assert forward.status == "complete"
    assert forward.published_at == datetime(2024, 3, 1, tzinfo=UTC)  # first publication
    assert forward.source_updated_at == datetime(2024, 3, 20, tzinfo=UTC)  # latest notice
    assert forward.raw is None  # the notices are stored one by one


def test_a_withdrawal_keeps_what_it_does_not_state() -> None:
    cn = notice("cn", 1, status="active", amount=Decimal(100), buyer_name="Comune")
    withdrawn = notice("x", 9, status="withdrawn", title="CIG 1234567A0B")
    merged = merge_notices([cn, withdrawn], base=withdrawn)
    assert merged.status == "withdrawn"
    assert (merged.amount, merged.buyer_name) == (Decimal(100), "Comune")
    assert merged.title == "Pulizie"  # the withdrawn notice's placeholder title is not news
