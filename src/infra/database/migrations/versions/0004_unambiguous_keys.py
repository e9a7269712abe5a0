"""identity keys with the separator escaped inside procedure and lot ids

Revision ID: 0004_unambiguous_keys
Revises: 0003_tender_filters
Create Date: 2026-12-10

`<source>:<procedure>:<lot>` joined ids as they were, so procedure `A:B` lot `C` and
procedure `A` lot `B:C` shared one key (one row). Keys now escape `\\` and `:` inside the
procedure and lot ids, and `\\` inside the source (see `identity_key` in
src/domain/tender/schemas.py, which this SQL mirrors). Only rows whose ids hold one of
these characters change: ANAC keys (`anac:<CIG>`) and ordinary ids stay as they were, so the
keys users see do not move. Nothing else refers to the key: history rows point at the
tender's id, publications are keyed by (source, format, document key). A row that two lots
shared keeps the lot it holds now; the other lot is inserted by its next ingest.

The keys are set to NULL first and then to their new value, so that no intermediate state
can collide with a key about to change. A downgrade fails (with a message) when two rows
would share an old key again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_unambiguous_keys"
down_revision: str | None = "0003_tender_filters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Literals travel as parameters: in SQL text, a backslash or a colon would need escaping.
_PARAMETERS = {"sep": ":", "bs": "\\", "bs_bs": "\\\\", "bs_sep": "\\:", "anac": "anac"}
_ANAC = "source = :anac AND coalesce(cig, '') <> ''"


def _escaped(column: str) -> str:
    return f"replace(replace({column}, :bs, :bs_bs), :sep, :bs_sep)"


_NEW_KEY = (
    f"CASE WHEN {_ANAC} THEN :anac || :sep || cig ELSE "
    f"replace(source, :bs, :bs_bs) || :sep || {_escaped('procedure_id')} || :sep || "
    f"{_escaped('coalesce(lot_id, :empty)')} END"
)
_OLD_KEY = (
    f"CASE WHEN {_ANAC} THEN :anac || :sep || cig ELSE "
    "source || :sep || procedure_id || :sep || coalesce(lot_id, :empty) END"
)


def _rekey(key: str) -> None:
    """Give every keyed row `key` (an expression of its columns) where it differs."""
    bind = op.get_bind()
    parameters = {**_PARAMETERS, "empty": ""}
    bind.execute(
        sa.text(
            f"CREATE TEMPORARY TABLE rekeyed AS SELECT id, {key} AS key FROM tenders "  # noqa: S608
            "WHERE identity_key IS NOT NULL AND source IS NOT NULL "
            f"AND procedure_id IS NOT NULL AND identity_key IS DISTINCT FROM {key}"
        ),
        parameters,
    )
    bind.execute(
        sa.text("UPDATE tenders SET identity_key = NULL WHERE id IN (SELECT id FROM rekeyed)")
    )
    bind.execute(
        sa.text("UPDATE tenders SET identity_key = r.key FROM rekeyed r WHERE tenders.id = r.id")
    )
    bind.execute(sa.text("DROP TABLE rekeyed"))


def upgrade() -> None:
    _rekey(_NEW_KEY)


def downgrade() -> None:
    shared = op.get_bind().scalar(
        sa.text(
            f"SELECT count(*) FROM (SELECT {_OLD_KEY} AS key FROM tenders "  # noqa: S608
            "WHERE identity_key IS NOT NULL AND source IS NOT NULL AND procedure_id IS NOT NULL "
            "GROUP BY 1 HAVING count(*) > 1) AS shared"
        ),
        {**_PARAMETERS, "empty": ""},
    )
    if shared:
        raise RuntimeError(
            f"{shared} old identity keys would be shared by two tenders (ids with ':' inside "
            "them): the old key format cannot tell them apart. Delete one tender of each "
            "pair, or stay on this revision."
        )
    _rekey(_OLD_KEY)
