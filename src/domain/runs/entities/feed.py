"""A registered feed: a source the cron ingests every `interval_seconds`."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from src.domain.formats import Format
from src.domain.runs.request import IngestRequest
from src.infra.database import Base


class Feed(Base):
    __tablename__ = "feeds"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    source: Mapped[str] = mapped_column(Text, unique=True)
    format: Mapped[str | None] = mapped_column(String(32))
    # For sources known not to be UTF-8 (e.g. "cp1252"); None means UTF-8.
    encoding: Mapped[str | None] = mapped_column(String(32))
    interval_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Conditional-request validators from the last successful fetch.
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    # Set from a Retry-After answer: not due before this moment.
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def request(self) -> IngestRequest:
        """A new run of this feed: fetched under the source policy (a feed is restricted)."""
        return IngestRequest(
            location=self.source,
            format=Format.parse(self.format),
            encoding=self.encoding,
            feed_id=self.id,
            restricted=True,
        )
