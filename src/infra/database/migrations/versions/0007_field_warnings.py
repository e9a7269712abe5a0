"""field warnings beside rejections; publications found by procedure; one eForms notice a row

Revision ID: 0007_field_warnings
Revises: 0006_run_submitter
Create Date: 2026-11-29

- `rejections.kind`: `record` (a rejected item, as before) or `field` (a tender kept with one
  field left empty: `field` names it, `raw_value` holds what the source said);
  `ingest_runs.warnings` counts the latter.
- `ix_publications_procedure`: a procedure's stored notices, merged field by
  field into its tenders' state. The procedure leads: with `(source, format)` first, the
  planner took it for lookups by document key on a table not yet analyzed, and scanned a
  whole source for each key.
- eForms publications were stored once per procedure (the newest notice); they are now one
  per notice, keyed by notice id: existing rows are re-keyed (the notice id is in the raw).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_field_warnings"
down_revision: str | None = "0006_run_submitter"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REKEY_EFORMS = """
UPDATE publications AS p SET document_key = p.raw->>'notice_id'
WHERE p.format = 'eforms' AND p.document_key = p.procedure_id
  AND coalesce(p.raw->>'notice_id', '') <> '' AND p.raw->>'notice_id' <> p.document_key
  AND NOT EXISTS (
    SELECT 1 FROM publications q
    WHERE q.source = p.source AND q.format = p.format AND q.document_key = p.raw->>'notice_id'
  )
"""


def upgrade() -> None:
    op.add_column(
        "rejections",
        sa.Column("kind", sa.String(length=16), nullable=False, server_default="record"),
    )
    op.add_column("rejections", sa.Column("field", sa.Text(), nullable=True))
    op.add_column("rejections", sa.Column("raw_value", sa.Text(), nullable=True))
    op.add_column(
        "ingest_runs",
        sa.Column("warnings", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index(
        "ix_publications_procedure",
        "publications",
        ["procedure_id", "source", "format"],
    )
    op.execute(_REKEY_EFORMS)


def downgrade() -> None:
    # eForms notices stay keyed by notice id: the older code reads them as well.
    op.drop_index("ix_publications_procedure", table_name="publications")
    op.drop_column("ingest_runs", "warnings")
    op.drop_column("rejections", "raw_value")
    op.drop_column("rejections", "field")
    op.drop_column("rejections", "kind")
