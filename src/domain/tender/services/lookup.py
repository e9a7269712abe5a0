"""Finding one tender the way a person names it, and what `tenders show` puts beside it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.ids import UnknownIdError, by_prefix, only
from src.domain.tender.entities import Tender, TenderChange
from src.domain.tender.services.history import find_tender


async def resolve_tender(session: AsyncSession, text: str) -> Tender:
    """The tender whose CIG, id or identity key is `text`, else the one whose id starts with
    it; UnknownIdError / AmbiguousIdError (with a message) when there is not exactly one."""
    tender = await find_tender(session, text)
    if tender is not None:
        return tender
    try:
        rows = await by_prefix(session, Tender, text)
    except ValueError as error:
        raise UnknownIdError(f"no tender has the CIG or key {text.strip()!r}; {error}") from None
    if not rows:
        raise UnknownIdError(f"no tender has the CIG, id or key {text.strip()!r}")
    found: Tender = only(rows, text, "tender")
    return found


async def other_lots(session: AsyncSession, tender: Tender, limit: int = 50) -> Sequence[Tender]:
    """The other lots of the tender's procedure (same source and procedure id), by lot."""
    if tender.procedure_id is None:
        return []
    query = (
        select(Tender)
        .where(
            Tender.source == tender.source,
            Tender.procedure_id == tender.procedure_id,
            Tender.id != tender.id,
        )
        .order_by(Tender.lot_id, Tender.cig, Tender.id)
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def last_changes(
    session: AsyncSession, tender_id: uuid.UUID, limit: int = 10
) -> Sequence[TenderChange]:
    """The tender's latest changes, oldest of them first."""
    query = (
        select(TenderChange)
        .where(TenderChange.tender_id == tender_id)
        .order_by(TenderChange.changed_at.desc(), TenderChange.id.desc())
        .limit(limit)
    )
    latest = (await session.scalars(query)).all()
    return list(reversed(latest))
