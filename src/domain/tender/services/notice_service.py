"""The stored notices of procedures, for merging a tender's state from all of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# (source, format, procedure id)
Procedure = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class StoredNotice:
    source: str
    format: str
    document_key: str
    raw: dict[str, Any]
    source_url: str | None


_LOCK = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(k, 1)) "
    "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"
)
_NOTICES = text(
    "SELECT p.source, p.format, p.document_key, p.raw, p.source_url "
    "FROM publications p JOIN unnest(CAST(:sources AS text[]), CAST(:formats AS text[]), "
    "CAST(:procedures AS text[])) AS k(source, format, procedure_id) "
    "USING (source, format, procedure_id) ORDER BY p.source_updated_at, p.document_key"
)


class NoticeService:
    @staticmethod
    async def lock(session: AsyncSession, procedures: Sequence[Procedure]) -> None:
        """Hold these procedures until the transaction ends (in one order, as every writer
        takes them): two jobs writing notices of one procedure at once would each merge
        without the other's notice, and the later commit would lose a field."""
        keys = sorted({"\x1f".join(procedure) for procedure in procedures})
        if keys:
            await session.execute(_LOCK, {"keys": keys})

    @staticmethod
    async def stored(session: AsyncSession, procedures: Sequence[Procedure]) -> list[StoredNotice]:
        """Every stored notice of these procedures, oldest first."""
        if not procedures:
            return []
        sources, formats, ids = (list(part) for part in zip(*sorted(set(procedures)), strict=True))
        rows = await session.execute(
            _NOTICES, {"sources": sources, "formats": formats, "procedures": ids}
        )
        return [StoredNotice(*row) for row in rows]
