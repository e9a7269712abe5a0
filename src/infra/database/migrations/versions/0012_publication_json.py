"""raw publications as json text

Revision ID: 0012_publication_json
Revises: 0011_publication_lz4
Create Date: 2026-11-30

- `publications.raw` is `json`, not `jsonb`: the publication is kept as the text it was read
  from (checked as JSON, not taken apart). Nothing queries inside it; `tenders reprocess` and
  the merging of notices read it whole. Storing one costs PostgreSQL about a third of the CPU
  (a 3.6 KB ANAC compiled release: 10 µs against 28 µs), and ~25% less space.
- The upgrade rewrites the table once (every stored publication is written out as text).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012_publication_json"
down_revision: str | None = "0011_publication_lz4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE publications ALTER COLUMN raw TYPE json USING raw::json")


def downgrade() -> None:
    op.execute("ALTER TABLE publications ALTER COLUMN raw TYPE jsonb USING raw::jsonb")
