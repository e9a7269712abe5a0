"""The outbox: what happened to a tender, written in the same transaction as the change
itself, so that no event is lost and none exists for a change that rolled back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from src.infra.database import Base
from src.infra.database.types import JSONDocument


class TenderEvent(Base):
    __tablename__ = "tender_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False), unique=True)
    tender_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"))
    # new, changed, deadline_near
    kind: Mapped[str] = mapped_column(String(20))
    # changed: {field: [old, new]} of the tracked fields that changed (as text).
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    # deadline_near events are made for one watch; the others are matched to every watch.
    watch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("watches.id", ondelete="CASCADE"))
    run_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
    # When the dispatcher turned it into deliveries (NULL: not yet).
    matched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_tender_events_pending", "seq", postgresql_where=text("matched_at IS NULL")),
        Index("ix_tender_events_tender_id", "tender_id"),
        Index(
            "uq_tender_events_deadline_near",
            "watch_id",
            "tender_id",
            unique=True,
            postgresql_where=text("kind = 'deadline_near'"),
        ),
    )
