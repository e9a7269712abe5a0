"""A tender's state is the merge of every notice published about it, field by field
(DESIGN.md, Identity): in the order the notices were issued, a notice sets what it states and
a field it does not state (None) keeps its earlier value; `published_at` is the first
publication, `source_updated_at` the latest notice; a withdrawn notice sets only the
status. So an eForms award notice, which has no
deadline, keeps the contract notice's deadline and estimate, and the result is the same
whatever order the notices arrive in (each is stored; the state is merged again from all)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from src.domain.tender.schemas import HASHED_FIELDS, TenderRecord

# Formats that publish one notice per event about a tender (a contract notice, a correction,
# an award): their tenders are merged from all their stored notices.
NOTICE_FORMATS: frozenset[str] = frozenset({"eforms", "anac_pvl"})

_IDENTITY = frozenset({"source", "procedure_id", "lot_id", "cig"})
_MERGED = tuple(name for name in HASHED_FIELDS if name not in _IDENTITY)
_NEVER = datetime(1900, 1, 1, tzinfo=UTC)


def _issued(record: TenderRecord) -> tuple[datetime, str]:
    """Notices in the order they were issued; two of one moment in document order."""
    return (record.source_updated_at or _NEVER, record.document_key or "")


def merge_notices(notices: Sequence[TenderRecord], *, base: TenderRecord) -> TenderRecord:
    """The state of one tender (one identity key) from all its notices' records. `base`, one
    of them, gives what is not content: where it was read (position, source URL)."""
    ordered = sorted(notices, key=_issued)
    state: dict[str, Any] = {}
    for notice in ordered:
        if notice.status == "withdrawn":
            # An obscured/withdrawn notice states only that: the rest of the tender stays
            # (its record still carries a title, which the schema requires).
            state["status"] = "withdrawn"
            continue
        for name in _MERGED:
            value = getattr(notice, name)
            if value is not None:
                state[name] = value
    published = [n.published_at for n in ordered if n.published_at is not None]
    state["published_at"] = min(published) if published else None
    updated = [n.source_updated_at for n in ordered if n.source_updated_at is not None]
    state["source_updated_at"] = max(updated) if updated else None
    merged = base.model_copy(update=state)
    merged.raw = merged.raw_json = None  # every notice is stored as its own publication
    merged.warnings = list(base.warnings)
    return merged
