"""OCDS releases kept per ocid, so that a release arriving in a later file is merged with
the earlier ones into the current state (releases are partial)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from src.infra.database import Base
from src.infra.database.types import JSONDocument


class OcdsRelease(Base):
    __tablename__ = "ocds_releases"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    ocid: Mapped[str] = mapped_column(Text)
    release_id: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    release_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    package_version: Mapped[str] = mapped_column(String(8), default="1.1")
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        UniqueConstraint("ocid", "release_id", "content_hash"),
        Index("ix_ocds_releases_ocid", "ocid"),
    )
