"""One Tender row is one lot-level opportunity (DESIGN.md, Identity)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, Index, Numeric, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from src.infra.database import Base


class Tender(Base):
    __tablename__ = "tenders"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # The single ON CONFLICT target: `anac:<CIG>` for ANAC, `<source>:<procedure>:<lot>` others.
    identity_key: Mapped[str | None] = mapped_column(Text, unique=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    cig: Mapped[str | None] = mapped_column(String(10), unique=True)
    source: Mapped[str | None] = mapped_column(String(100))
    procedure_id: Mapped[str | None] = mapped_column(Text)
    lot_id: Mapped[str | None] = mapped_column(Text)
    buyer_name: Mapped[str | None] = mapped_column(Text)
    buyer_id: Mapped[str | None] = mapped_column(String(100))
    cpv: Mapped[str | None] = mapped_column(String(12))
    procedure_type: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(20))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    award_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    award_currency: Mapped[str | None] = mapped_column(String(3))
    awarded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    supplier_name: Mapped[str | None] = mapped_column(Text)
    supplier_id: Mapped[str | None] = mapped_column(String(100))
    source_url: Mapped[str | None] = mapped_column(Text)
    # Hash of the mapped fields: equal hash means nothing to write.
    content_hash: Mapped[str | None] = mapped_column(String(64))
    # The source's own last-modified date: an older version never replaces a newer one.
    source_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        Index("ix_tenders_source_procedure_id", "source", "procedure_id"),
        Index("ix_tenders_deadline_at", "deadline_at"),
    )
