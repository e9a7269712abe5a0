"""A byte range of a large JSON Lines source, ingested by its own job so that several
workers share one source; its counts add up on the run."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from src.infra.database import Base


class IngestChunk(Base):
    __tablename__ = "ingest_chunks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ingest_runs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    # Lines whose first byte lies in [start_offset, end_offset) belong to this chunk.
    start_offset: Mapped[int] = mapped_column(BigInteger)
    end_offset: Mapped[int] = mapped_column(BigInteger)
    # The line number, in the whole file, of the first line the chunk owns (counted at the
    # split; none for chunks split before it was kept: their lines count from 1).
    first_line: Mapped[int | None] = mapped_column(BigInteger)
    job_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    records_done: Mapped[int] = mapped_column(Integer, default=0)
    # Bytes of the range read so far (its run's `bytes_read` is the sum over its chunks).
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Attempts started, whoever started them: at WORKER_MAX_TRIES the chunk fails.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("run_id", "index"),)
