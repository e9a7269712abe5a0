"""the file line number of each chunk's first line

Revision ID: 0014_chunk_first_line
Revises: 0013_publication_lz4_kept
Create Date: 2026-11-30

- `ingest_chunks.first_line`: the line number, in the whole file, of the first line a chunk
  owns (counted when the file is split), so that a rejection in a chunk says the line of the
  file ("line 300001"), not its line in the chunk. Chunks split before this have none: theirs
  keep counting from 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_chunk_first_line"
down_revision: str | None = "0013_publication_lz4_kept"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ingest_chunks", sa.Column("first_line", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("ingest_chunks", "first_line")
