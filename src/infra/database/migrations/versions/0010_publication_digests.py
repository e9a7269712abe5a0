"""publications found by their bytes' digest

Revision ID: 0010_publication_digests
Revises: 0009_alerts
Create Date: 2026-11-30

- `ix_publications_source_digest` (partial: where a digest is set): an unchanged JSON line
  is recognised by its digest before it is parsed, so a re-ingest of stored documents reads
  no JSON.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_publication_digests"
down_revision: str | None = "0009_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_publications_source_digest",
        "publications",
        ["source_digest"],
        postgresql_where=sa.text("source_digest IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_publications_source_digest", table_name="publications")
