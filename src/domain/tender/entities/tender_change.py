"""A change of a tracked field of a tender: what users are alerted about."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from src.infra.database import Base


class TenderChange(Base):
    __tablename__ = "tender_changes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tender_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    # The wall-clock moment of the write (not the transaction's start), so that the feed of
    # changes is ordered as they were made.
    changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
    # The source's own date of the version that made the change.
    source_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    run_id: Mapped[uuid.UUID | None] = mapped_column()

    __table_args__ = (
        Index("ix_tender_changes_tender_id_changed_at", "tender_id", "changed_at"),
        Index("ix_tender_changes_changed_at", "changed_at"),
    )
