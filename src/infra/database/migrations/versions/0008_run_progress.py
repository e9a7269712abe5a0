"""progress of a run on its row: bytes read of the source's total, and when it was written

Revision ID: 0008_run_progress
Revises: 0007_field_warnings
Create Date: 2026-12-06

- `ingest_runs.bytes_read` / `bytes_total`: how far the worker is in the source's bytes (the
  file, the downloaded body; for a split source the sum of its chunks'); the total is NULL
  while it is not known. `progress_at`: when the worker last wrote them (with a batch).
- `ingest_chunks.bytes_read`: the chunk's own share, summed onto its run.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_run_progress"
down_revision: str | None = "0007_field_warnings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ingest_runs",
        sa.Column("bytes_read", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.add_column("ingest_runs", sa.Column("bytes_total", sa.BigInteger(), nullable=True))
    op.add_column(
        "ingest_runs", sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "ingest_chunks",
        sa.Column("bytes_read", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("ingest_chunks", "bytes_read")
    op.drop_column("ingest_runs", "progress_at")
    op.drop_column("ingest_runs", "bytes_total")
    op.drop_column("ingest_runs", "bytes_read")
