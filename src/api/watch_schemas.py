"""What the watch routes answer and accept. A watch's secret appears once: in the answer to
the POST that made it (`WatchCreated`), never in any other. Amounts are decimal strings,
timestamps ISO 8601 with their offset, as everywhere in this API."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from src.api.params import UtcDateTime
from src.domain.alerts.schemas import Digest, EventKind

DeliveryStatus = Literal["pending", "sent", "failed"]
# Filters a PATCH may set to null: emptied (they hold for every tender then).
LIST_FIELDS = frozenset({"cpv", "buyer_ids", "nuts", "sources", "statuses", "fields"})


class DeliveryCounts(BaseModel):
    pending: int = 0
    sent: int = 0
    failed: int = 0


class WatchOut(BaseModel):
    id: uuid.UUID
    name: str
    cpv: list[str] = Field(description="CPV prefixes (any of them).")
    nuts: list[str] = Field(description="NUTS prefixes of the place of performance.")
    buyer_ids: list[str]
    buyer_words: str | None = Field(description="Words of the buyer's name (all of them).")
    words: str | None = Field(description="Words of the title or description (all of them).")
    amount_min: Decimal | None
    amount_max: Decimal | None
    sources: list[str]
    statuses: list[str]
    events: list[EventKind]
    fields: list[str] = Field(description="Tracked fields whose change counts (empty: all).")
    deadline_days: int
    webhook_url: str | None
    email: str | None
    digest: Digest
    paused: bool
    paused_at: datetime | None
    paused_reason: str | None = Field(description="Why it is paused (by whom, or the failures).")
    consecutive_failures: int = Field(description="Failed deliveries in a row.")
    last_sent_at: datetime | None
    created_at: datetime
    updated_at: datetime
    deliveries: DeliveryCounts


class WatchCreated(WatchOut):
    secret: str = Field(
        description="The key of the webhook signatures (HMAC-SHA256 of the timestamp and "
        "the body). Shown in this answer only: keep it."
    )


class WatchChanged(WatchOut):
    due_again: int = Field(
        default=0, description="Deliveries a resume made due again (what failed or waited)."
    )


class WatchList(BaseModel):
    items: list[WatchOut]


class WatchPatch(BaseModel):
    """The fields to change, as in the POST (what is left out stays); `paused` pauses
    (true) or resumes (false) the watch, `reason` says why it is paused."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    cpv: list[str] | None = None
    buyer_ids: list[str] | None = None
    buyer_words: str | None = None
    nuts: list[str] | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    words: str | None = None
    sources: list[str] | None = None
    statuses: list[str] | None = None
    events: list[EventKind] | None = None
    fields: list[str] | None = None
    deadline_days: int | None = None
    webhook_url: str | None = None
    email: str | None = None
    digest: Digest | None = None
    paused: bool | None = Field(default=None, description="true: pause; false: resume.")
    reason: str | None = Field(
        default=None, max_length=500, description="Shown while paused (with `paused`: true)."
    )

    def description_changes(self) -> dict[str, Any]:
        """The watch's fields this patch sets (a filter list set to null is emptied)."""
        given = self.model_dump(exclude_unset=True, exclude={"paused", "reason"})
        return {
            name: ([] if value is None and name in LIST_FIELDS else value)
            for name, value in given.items()
        }


class DeliveryOut(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID = Field(description="The same in a replay: receivers drop duplicates.")
    kind: EventKind
    tender_id: uuid.UUID
    cig: str | None
    identity_key: str | None
    title: str
    status: DeliveryStatus
    attempts: int
    response_code: int | None = Field(description="The receiver's HTTP status, last attempt.")
    error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    sent_at: datetime | None
    next_attempt_at: datetime | None = Field(description="When it is tried next (pending).")
    replay: bool


class DeliveryPage(BaseModel):
    watch_id: uuid.UUID
    items: list[DeliveryOut]


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: UtcDateTime = Field(
        description="Send again the events since then (ISO 8601; without an offset, UTC)."
    )


class ReplayAccepted(BaseModel):
    watch_id: uuid.UUID
    queued: int = Field(description="Deliveries queued again, marked as replays.")
    dispatched: bool = Field(
        description="Whether the dispatcher was queued now; if not, the next cron round sends them."
    )
