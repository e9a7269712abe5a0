"""raw publications compressed with lz4, again

Revision ID: 0013_publication_lz4_kept
Revises: 0012_publication_json
Create Date: 2026-11-30

- 0012 changed the type of `publications.raw`, and a new type takes the default compression:
  the lz4 that 0011 set was lost. Values written through the staging table kept lz4 (theirs,
  compressed there), but a value written straight into the table was compressed with pglz.
  This sets lz4 again where the server has it; values already stored keep theirs.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013_publication_lz4_kept"
down_revision: str | None = "0012_publication_json"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN_LZ4 = """
DO $$
BEGIN
    IF EXISTS (
        SELECT FROM pg_settings
        WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)
    ) THEN
        ALTER TABLE publications ALTER COLUMN raw SET COMPRESSION {method};
    END IF;
END
$$
"""


def upgrade() -> None:
    op.execute(_WHEN_LZ4.format(method="lz4"))


def downgrade() -> None:
    op.execute(_WHEN_LZ4.format(method="default"))
