"""One Tender row is one lot-level opportunity (DESIGN.md, Identity)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, Index, Numeric, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from src.infra.database import Base


class Tender(Base):
    __tablename__ = "tenders"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # The single ON CONFLICT target: `anac:<CIG>` for ANAC, `<source>:<procedure>:<lot>` for
    # others, `\` and `:` escaped inside the ids (`identity_key` in the schemas).
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
    # The place of performance as a NUTS code (country, region, province: `ITC4`, `ITI43`).
    nuts: Mapped[str | None] = mapped_column(String(10))
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

    # PostgreSQL-only indexes are skipped elsewhere (the seed's SQLite fixture).
    # The API's filters and keyset pages (newest first by created_at, id); checked with
    # EXPLAIN on a generated table (tests/api/test_indexes.py). The search expression must
    # stay as PostgreSQL prints it, and equal SEARCH_DOCUMENT in
    # src/domain/tender/services/filters.py.
    __table_args__ = (
        Index("ix_tenders_source_procedure_id", "source", "procedure_id"),
        Index("ix_tenders_deadline_at", "deadline_at"),
        Index("ix_tenders_created_at_id", "created_at", "id"),
        Index("ix_tenders_status_created_at_id", "status", "created_at", "id"),
        Index("ix_tenders_buyer_id_created_at_id", "buyer_id", "created_at", "id"),
        Index("ix_tenders_source_created_at_id", "source", "created_at", "id"),
        Index("ix_tenders_cpv_prefix", "cpv", postgresql_ops={"cpv": "text_pattern_ops"}).ddl_if(
            dialect="postgresql"
        ),
        Index("ix_tenders_nuts_prefix", "nuts", postgresql_ops={"nuts": "text_pattern_ops"}).ddl_if(
            dialect="postgresql"
        ),
        Index("ix_tenders_published_at", "published_at"),
        Index(
            "ix_tenders_search",
            text(
                "to_tsvector('simple'::regconfig, "
                "left((title || ' ') || coalesce(description, ''), 100000))"
            ),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
    )
