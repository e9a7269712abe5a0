"""A record that could not be mapped, or a field of a kept tender that could not be taken:
kept with a reason a user can act on."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from src.infra.database import Base


class Rejection(Base):
    __tablename__ = "rejections"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ingest_runs.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(Text)
    position: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    snippet: Mapped[str | None] = mapped_column(Text)
    # `record`: the item was rejected; `field`: its tender was kept with `field` left empty,
    # `raw_value` being what the source said.
    kind: Mapped[str] = mapped_column(String(16), default="record", server_default="record")
    field: Mapped[str | None] = mapped_column(Text)
    raw_value: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
