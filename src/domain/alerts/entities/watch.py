"""A saved search ("watch"): filters over tenders, the events wanted, and where to send them.

A watch matches a tender when every filter it sets holds (an empty filter holds for all):
CPV prefixes, buyer ids, buyer-name words, NUTS prefixes of the place of performance, an
amount range, words of the title or description, sources and statuses. `WatchKey` rows are
its index entries for matching (`services.matching`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from src.infra.database import Base
from src.infra.database.types import TextList


class Watch(Base):
    __tablename__ = "watches"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    # Who made it: an API token's name, or "operator" for the CLI (which sees every watch).
    owner: Mapped[str] = mapped_column(String(200))
    cpv: Mapped[list[str]] = mapped_column(TextList, default=list)
    buyer_ids: Mapped[list[str]] = mapped_column(TextList, default=list)
    buyer_words: Mapped[str | None] = mapped_column(Text)
    nuts: Mapped[list[str]] = mapped_column(TextList, default=list)
    amount_min: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    amount_max: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    words: Mapped[str | None] = mapped_column(Text)
    sources: Mapped[list[str]] = mapped_column(TextList, default=list)
    statuses: Mapped[list[str]] = mapped_column(TextList, default=list)
    # new, changed, deadline_near
    events: Mapped[list[str]] = mapped_column(TextList)
    # The tracked fields whose change counts for `changed` (empty: every tracked field).
    fields: Mapped[list[str]] = mapped_column(TextList, default=list)
    deadline_days: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    webhook_url: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    # Email only: immediate, hourly or daily.
    digest: Mapped[str] = mapped_column(String(16), default="immediate")
    # The HMAC key of the webhook signatures; shown once, at creation.
    secret: Mapped[str] = mapped_column(Text)
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_reason: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the last email digest went out (hourly and daily digests wait for their time).
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (UniqueConstraint("owner", "name", name="uq_watches_owner_name"),)


class WatchKey(Base):
    """One index entry of a watch: `cpv:45`, `nuts:ITC4`, `source:anac`, `buyer:<id>`, or `*`
    (a watch without any of those filters is a candidate for every tender). A watch has the
    entries of its most selective filter only; matching then checks all its filters."""

    __tablename__ = "watch_keys"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    watch_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("watches.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_watch_keys_watch_id", "watch_id"),)
