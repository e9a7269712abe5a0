"""PostgreSQL is the truth about jobs: one row per ingest run, whatever Redis remembers."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, String, Text, false, func
from sqlalchemy.orm import Mapped, mapped_column

from src.domain.formats import Format
from src.domain.runs.request import IngestRequest
from src.infra.database import Base


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"


class IngestRun(Base):
    __tablename__ = "ingest_runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    job_id: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text)
    format: Mapped[str | None] = mapped_column(String(32))
    # For sources known not to be UTF-8 (e.g. "cp1252"); None means UTF-8.
    encoding: Mapped[str | None] = mapped_column(String(32))
    feed_id: Mapped[uuid.UUID | None] = mapped_column()
    # Named by the API or a feed: fetched only where the source policy allows.
    restricted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The API token that queued it (None: the CLI, a feed); its unfinished runs are capped.
    submitted_by: Mapped[str | None] = mapped_column(String(64))
    # Written without alert events (`tenders ingest --quiet`).
    quiet: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    # Fields left empty in kept tenders (stored as rejections of kind `field`).
    warnings: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Records of the source already committed: a retried job resumes after them.
    records_done: Mapped[int] = mapped_column(Integer, default=0)
    # The source's bytes as seen by the attempt that wrote the checkpoint.
    source_fingerprint: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A large source split into chunks: the run completes when every chunk has.
    chunks_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    chunks_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Progress, written with each batch: bytes of the source read so far (a split source:
    # the sum of its chunks') of `bytes_total` (None until known), as of `progress_at`.
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    bytes_total: Mapped[int | None] = mapped_column(BigInteger)
    progress_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_ingest_runs_status_queued_at", "status", "queued_at"),
        Index("ix_ingest_runs_queued_at", "queued_at"),
        Index("ix_ingest_runs_submitted_by_status", "submitted_by", "status"),
    )

    def request(self) -> IngestRequest:
        """The request this run was queued with, field for field (the sweeper re-enqueues
        exactly this)."""
        return IngestRequest(
            location=self.source,
            format=Format.parse(self.format),
            encoding=self.encoding,
            feed_id=self.feed_id,
            restricted=self.restricted,
            run_id=self.id,
            submitted_by=self.submitted_by,
            quiet=self.quiet,
        )
