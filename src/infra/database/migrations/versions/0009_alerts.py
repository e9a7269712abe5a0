"""alerts: watches, the tender-event outbox, deliveries; the place of performance (NUTS)

Revision ID: 0009_alerts
Revises: 0008_run_progress
Create Date: 2026-12-07

- `ingest_runs.quiet`: a run written without alert events (`tenders ingest --quiet`).
- `tenders.nuts`: the place of performance as a NUTS code (eForms, OCDS, ANAC).
- `watches` (saved searches) and `watch_keys` (their index entries for matching).
- `tender_events`: written in the ingest's own transaction (new tender, tracked fields
  changed) or by the deadline cron; `matched_at` is set when they became deliveries.
- `deliveries`: one event for one watch, with its attempts and the receiver's answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_alerts"
down_revision: str | None = "0008_run_progress"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXTS = postgresql.ARRAY(sa.Text())


def _now() -> sa.TextClause:
    return sa.text("clock_timestamp()")


def upgrade() -> None:
    op.add_column(
        "ingest_runs",
        sa.Column("quiet", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("tenders", sa.Column("nuts", sa.String(length=10), nullable=True))
    op.create_index(
        "ix_tenders_nuts_prefix", "tenders", ["nuts"], postgresql_ops={"nuts": "text_pattern_ops"}
    )
    op.create_table(
        "watches",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("cpv", _TEXTS, nullable=False),
        sa.Column("buyer_ids", _TEXTS, nullable=False),
        sa.Column("buyer_words", sa.Text(), nullable=True),
        sa.Column("nuts", _TEXTS, nullable=False),
        sa.Column("amount_min", sa.Numeric(18, 2), nullable=True),
        sa.Column("amount_max", sa.Numeric(18, 2), nullable=True),
        sa.Column("words", sa.Text(), nullable=True),
        sa.Column("sources", _TEXTS, nullable=False),
        sa.Column("statuses", _TEXTS, nullable=False),
        sa.Column("events", _TEXTS, nullable=False),
        sa.Column("fields", _TEXTS, nullable=False),
        sa.Column("deadline_days", sa.Integer(), server_default="7", nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("digest", sa.String(length=16), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.UniqueConstraint("owner", "name", name="uq_watches_owner_name"),
    )
    op.create_table(
        "watch_keys",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column(
            "watch_id",
            sa.Uuid(),
            sa.ForeignKey("watches.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_watch_keys_watch_id", "watch_keys", ["watch_id"])
    op.create_table(
        "tender_events",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "tender_id",
            sa.Uuid(),
            sa.ForeignKey("tenders.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("changes", postgresql.JSONB(), nullable=True),
        sa.Column(
            "watch_id", sa.Uuid(), sa.ForeignKey("watches.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("seq"),
    )
    op.create_index(
        "ix_tender_events_pending",
        "tender_events",
        ["seq"],
        postgresql_where=sa.text("matched_at IS NULL"),
    )
    op.create_index("ix_tender_events_tender_id", "tender_events", ["tender_id"])
    op.create_index(
        "uq_tender_events_deadline_near",
        "tender_events",
        ["watch_id", "tender_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'deadline_near'"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "watch_id",
            sa.Uuid(),
            sa.ForeignKey("watches.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "event_id",
            sa.Uuid(),
            sa.ForeignKey("tender_events.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replay", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    )
    op.create_index(
        "uq_deliveries_watch_event",
        "deliveries",
        ["watch_id", "event_id"],
        unique=True,
        postgresql_where=sa.text("NOT replay"),
    )
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_deliveries_watch_due",
        "deliveries",
        ["watch_id", "next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_deliveries_watch_created", "deliveries", ["watch_id", "created_at"])
    op.create_index("ix_deliveries_event_id", "deliveries", ["event_id"])


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("tender_events")
    op.drop_table("watch_keys")
    op.drop_table("watches")
    op.drop_index("ix_tenders_nuts_prefix", table_name="tenders")
    op.drop_column("tenders", "nuts")
    op.drop_column("ingest_runs", "quiet")
