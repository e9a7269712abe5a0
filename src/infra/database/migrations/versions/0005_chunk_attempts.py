"""attempts counted on each chunk of a split run

Revision ID: 0005_chunk_attempts
Revises: 0004_unambiguous_keys
Create Date: 2026-12-10

A chunk whose job keeps dying (or timing out) fails at WORKER_MAX_TRIES attempts, as a run
does; the count lives on the row, since arq's own count restarts whenever the sweeper
enqueues the chunk again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_chunk_attempts"
down_revision: str | None = "0004_unambiguous_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ingest_chunks",
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("ingest_chunks", "attempts")
