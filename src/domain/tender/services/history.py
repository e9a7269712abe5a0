"""Reading the change history: one tender's, or the feed of all changes after a moment."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.tender.entities import Tender, TenderChange


async def find_tender(session: AsyncSession, cig_or_id: str) -> Tender | None:
    """A tender by its CIG, its id, or its identity key (`ted:<folder>:<lot>`)."""
    text = cig_or_id.strip()
    conditions = [Tender.cig == text.upper(), Tender.identity_key == text]
    with contextlib.suppress(ValueError):
        conditions.append(Tender.id == uuid.UUID(text))
    result = await session.execute(select(Tender).where(or_(*conditions)).limit(1))
    return result.scalar_one_or_none()


async def tender_history(session: AsyncSession, tender_id: uuid.UUID) -> Sequence[TenderChange]:
    result = await session.execute(
        select(TenderChange)
        .where(TenderChange.tender_id == tender_id)
        .order_by(TenderChange.changed_at, TenderChange.field, TenderChange.id)
    )
    return result.scalars().all()


async def changes_since(
    session: AsyncSession,
    since: datetime,
    *,
    limit: int | None = None,
    fields: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Every change after `since` (of one of `fields`, when given), oldest first, with what
    identifies its tender."""
    query = (
        select(TenderChange, Tender.cig, Tender.identity_key, Tender.title)
        .join(Tender, Tender.id == TenderChange.tender_id)
        .where(TenderChange.changed_at > since)
        .order_by(TenderChange.changed_at, TenderChange.id)
    )
    if fields:
        query = query.where(TenderChange.field.in_(fields))
    if limit is not None:
        query = query.limit(limit)
    rows = await session.execute(query)
    return [
        {
            "changed_at": change.changed_at,
            "tender_id": change.tender_id,
            "cig": cig,
            "identity_key": identity_key,
            "title": title,
            "field": change.field,
            "old_value": change.old_value,
            "new_value": change.new_value,
            "source_updated_at": change.source_updated_at,
            "run_id": change.run_id,
        }
        for change, cig, identity_key, title in rows
    ]
