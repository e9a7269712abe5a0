"""indexes for the API's tender filters and keyset pagination

Revision ID: 0003_tender_filters
Revises: 0002_history_releases
Create Date: 2026-12-04

The list of tenders is ordered by (created_at, id), newest first: both are immutable, so a
cursor never repeats or skips a row. Each equality filter has an index that ends with that
key, so "filter, newest first, next page" is one index range. Free text uses PostgreSQL's
built-in full-text search (the `simple` configuration, any language): pg_trgm is a contrib
extension that not every server has (the embedded one does not).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_tender_filters"
down_revision: str | None = "0002_history_releases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same expression as the API's `q` filter, so that the planner matches it to the index.
# Cut at 100k characters so that no description can exceed tsvector's 1 MB limit.
# Parenthesised as PostgreSQL prints it, so that autogenerate sees no difference.
SEARCH_DOCUMENT = (
    "to_tsvector('simple'::regconfig, left((title || ' ') || coalesce(description, ''), 100000))"
)


def upgrade() -> None:
    op.create_index("ix_tenders_created_at_id", "tenders", ["created_at", "id"], unique=False)
    for column in ("status", "buyer_id", "source"):
        op.create_index(
            f"ix_tenders_{column}_created_at_id",
            "tenders",
            [column, "created_at", "id"],
            unique=False,
        )
    op.create_index(
        "ix_tenders_cpv_prefix",
        "tenders",
        ["cpv"],
        unique=False,
        postgresql_ops={"cpv": "text_pattern_ops"},
    )
    op.create_index("ix_tenders_published_at", "tenders", ["published_at"], unique=False)
    op.create_index(
        "ix_tenders_search",
        "tenders",
        [sa.text(SEARCH_DOCUMENT)],
        unique=False,
        postgresql_using="gin",
    )


def downgrade() -> None:
    op.drop_index("ix_tenders_search", table_name="tenders")
    op.drop_index("ix_tenders_published_at", table_name="tenders")
    op.drop_index("ix_tenders_cpv_prefix", table_name="tenders")
    for column in ("source", "buyer_id", "status"):
        op.drop_index(f"ix_tenders_{column}_created_at_id", table_name="tenders")
    op.drop_index("ix_tenders_created_at_id", table_name="tenders")
