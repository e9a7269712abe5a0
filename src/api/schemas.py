"""What the API answers and accepts. Amounts are decimal strings ("1234.50"): exact, unlike
JSON numbers. Timestamps are ISO 8601 with their offset (stored in UTC)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from src.domain.formats import Format
from src.ingest.admission import RequestRefused, known_encoding

JobStatus = Literal["queued", "running", "complete", "failed"]


class ErrorMessage(BaseModel):
    detail: str


class TenderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    identity_key: str | None
    cig: str | None
    source: str | None
    procedure_id: str | None
    lot_id: str | None
    title: str
    description: str | None
    status: str | None
    procedure_type: str | None
    amount: Decimal | None
    currency: str | None
    buyer_id: str | None
    buyer_name: str | None
    cpv: str | None
    published_at: datetime | None
    deadline_at: datetime | None
    award_amount: Decimal | None
    award_currency: str | None
    awarded_at: datetime | None
    supplier_id: str | None
    supplier_name: str | None
    source_url: str | None
    source_updated_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TenderPage(BaseModel):
    items: list[TenderOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class TenderChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tender_id: uuid.UUID
    field: str
    old_value: str | None
    new_value: str | None
    changed_at: datetime
    source_updated_at: datetime | None
    run_id: uuid.UUID | None


class TenderHistory(BaseModel):
    tender_id: uuid.UUID
    items: list[TenderChangeOut]


class ChangeFeedItem(TenderChangeOut):
    cig: str | None
    identity_key: str | None
    title: str


class ChangeFeedPage(BaseModel):
    items: list[ChangeFeedItem]
    next_cursor: str = Field(
        description="Where this page ends: pass it as `cursor` to read on now, or later to "
        "get only what changed since (a poller keeps the last one it got)."
    )
    has_more: bool = Field(description="True when more changes are already waiting.")


def _known_encoding(value: str | None) -> str | None:
    """The CLI's check (`src.ingest.admission`), as a field validator."""
    try:
        return known_encoding(value)
    except RequestRefused as refused:
        raise ValueError(str(refused)) from None


class IngestJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        min_length=1,
        max_length=4096,
        description="An http(s) URL of a public host, or the path of a file inside one of "
        "the server's ALLOWED_SOURCE_DIRS.",
        examples=["https://dati.anticorruzione.it/opendata/ocds/2025-01.json"],
    )
    format: Format | None = Field(
        default=None, description="The publication format; detected from the content when omitted."
    )
    encoding: Annotated[str | None, Field(max_length=32), AfterValidator(_known_encoding)] = Field(
        default=None, description="For sources that are not UTF-8, e.g. cp1252."
    )
    quiet: bool = Field(
        default=False,
        description="Write the tenders without alert events: for the first ingest of a new "
        "source, so watches are not flooded.",
    )


class IngestJobAccepted(BaseModel):
    id: uuid.UUID | None = Field(
        description="The run id: follow it at /ingest-jobs/{id}. Null only in the rare case "
        "where the same source was already queued and its run could not be found."
    )
    job_id: str
    source: str
    format: Format | None
    created: bool = Field(description="False when the same source was already queued or running.")


class RunCounts(BaseModel):
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    warnings: int = Field(
        default=0, description="Fields left empty in kept tenders (see the rejections)."
    )


class RunProgressOut(BaseModel):
    """How far the run is, as its worker last wrote it (with each batch)."""

    bytes_read: int = Field(description="Bytes of the source read so far.")
    bytes_total: int | None = Field(description="The source's size; null while not known.")
    records: int = Field(description="Records handled: tenders kept or unchanged, rejections.")
    rate_per_second: float | None = Field(description="Records per second in this attempt.")
    eta_seconds: float | None = Field(description="Seconds left at that pace, when known.")
    updated_at: datetime | None = Field(description="When the worker last wrote progress.")


class IngestJobOut(BaseModel):
    id: uuid.UUID
    job_id: str | None
    source: str
    format: str | None
    encoding: str | None
    status: JobStatus
    quiet: bool = Field(description="Written without alert events.")
    counts: RunCounts
    records_done: int
    attempts: int
    error: str | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    progress: RunProgressOut


class RejectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: Literal["record", "field"] = Field(
        description="`record`: the item was rejected; `field`: its tender was kept with "
        "`field` left empty, `raw_value` being what the source gave."
    )
    position: str | None
    field: str | None
    reason: str
    raw_value: str | None
    snippet: str | None
    created_at: datetime


class RejectionPage(BaseModel):
    run_id: uuid.UUID
    items: list[RejectionOut]


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    postgres: str
    redis: str
    analytics: str | None = Field(
        default=None, description="The analytics/replica database, when one is configured."
    )
    detail: str | None = Field(
        default=None,
        description="When unavailable: why, per dependency, with its address "
        "(`postgres: connection refused at 10.0.0.5:5432; retry in a few seconds`).",
    )
