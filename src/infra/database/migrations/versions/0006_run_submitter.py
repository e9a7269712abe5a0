"""who queued a run: the API token's name, so its unfinished runs can be capped

Revision ID: 0006_run_submitter
Revises: 0005_chunk_attempts
Create Date: 2026-12-10

Runs queued before this migration, and runs queued by the CLI or a feed, have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_run_submitter"
down_revision: str | None = "0005_chunk_attempts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ingest_runs", sa.Column("submitted_by", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_ingest_runs_submitted_by_status",
        "ingest_runs",
        ["submitted_by", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_ingest_runs_submitted_by_status", table_name="ingest_runs")
    op.drop_column("ingest_runs", "submitted_by")
