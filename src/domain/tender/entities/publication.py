"""The raw publication a procedure's tenders came from, stored once per procedure."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from src.infra.database import Base


class Publication(Base):
    """Keyed by source, format and document: a procedure for OCDS and eForms (its lots share
    it), a CIG for ANAC's per-CIG formats (one row each). `tenders reprocess` maps it again."""

    __tablename__ = "publications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    source: Mapped[str] = mapped_column(String(100))
    procedure_id: Mapped[str] = mapped_column(Text)
    document_key: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(32))
    # json, not jsonb: kept as the text it was read from (migration 0012).
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    # The bytes it was read from and the mapping that read them, when that mapping gave
    # `record_count` tenders and no rejection: the same digest again is skipped unmapped.
    source_digest: Mapped[str | None] = mapped_column(String(64))
    record_count: Mapped[int | None] = mapped_column(Integer)
    source_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        UniqueConstraint("source", "format", "document_key"),
        # A procedure's stored notices, merged field by field (ingest.notices). The procedure
        # leads, so lookups by document key never take this index for the unique one.
        Index("ix_publications_procedure", "procedure_id", "source", "format"),
        # Documents known by their bytes' digest before they are parsed (an unchanged
        # re-ingest reads no JSON it stored before).
        Index(
            "ix_publications_source_digest",
            "source_digest",
            postgresql_where=text("source_digest IS NOT NULL"),
        ),
    )
