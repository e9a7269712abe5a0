"""Validated records: what readers produce and what `TenderService` writes."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TenderStatus = Literal[
    "planning", "planned", "active", "cancelled", "unsuccessful", "complete", "withdrawn"
]
TENDER_STATUSES: frozenset[str] = frozenset(TenderStatus.__args__)  # type: ignore[attr-defined]

TITLE_FROM_DESCRIPTION_CHARS = 200
_TITLE_PREFIX_CHARS = 4 * TITLE_FROM_DESCRIPTION_CHARS
TEXT_FIELDS: tuple[str, ...] = (
    "title",
    "description",
    "buyer_name",
    "buyer_id",
    "cpv",
    "procedure_type",
    "supplier_name",
    "supplier_id",
)
_CONTAINER_TEXT = re.compile(r"""\s*(\[\s*)?\{\s*['"][^'"]{1,80}['"]\s*:""")
_CURRENCY_NAMES = {"euro": "EUR", "euros": "EUR", "€": "EUR", "eur": "EUR", "£": "GBP", "$": "USD"}

# What the database enforces, checked before the write so that a record beyond it is a
# rejection, not a failed batch. PostgreSQL refuses a btree index entry over 2,704 bytes (a
# third of a page, headers included): the text columns of one index stay under this many
# bytes together, in UTF-8 (500 characters may take 2,000).
MAX_INDEXED_BYTES = 2600
# Amounts are numeric(18, 2): 16 digits before the point, 2 after.
AMOUNT_LIMIT = Decimal("1e16")
_CENTS = Decimal("0.01")

# Fields whose content decides whether a stored tender must be rewritten.
HASHED_FIELDS: tuple[str, ...] = (
    "title",
    "description",
    "cig",
    "source",
    "procedure_id",
    "lot_id",
    "buyer_name",
    "buyer_id",
    "cpv",
    "nuts",
    "procedure_type",
    "status",
    "amount",
    "currency",
    "published_at",
    "deadline_at",
    "award_amount",
    "award_currency",
    "awarded_at",
    "supplier_name",
    "supplier_id",
    "source_updated_at",
)
_SORTED_HASHED_FIELDS = tuple(sorted(HASHED_FIELDS))
# Fields whose changes are kept as history (and fed to `tenders changes`).
TRACKED_FIELDS: tuple[str, ...] = (
    "title",
    "status",
    "deadline_at",
    "amount",
    "award_amount",
    "supplier_name",
    "awarded_at",
)
# Written with the content but not part of it: the same tender read from another file or
# URL is unchanged.
UNHASHED_FIELDS: tuple[str, ...] = ("source_url",)


def title_from_description(description: str | None) -> str | None:
    """The start of a description cut at a word boundary, for sources without a title."""
    if not description:
        return None
    # Only the start is needed: spaces collapsed in a prefix give the same first characters
    # as in the whole text, once the prefix still has more than the title takes.
    # Words split on runs of whitespace (what `\s` matches: `str.isspace`), joined by one space.
    text = " ".join(description[:_TITLE_PREFIX_CHARS].split())
    if len(text) <= TITLE_FROM_DESCRIPTION_CHARS and len(description) > _TITLE_PREFIX_CHARS:
        text = " ".join(description.split())
    if len(text) <= TITLE_FROM_DESCRIPTION_CHARS:
        return text or None
    cut = text[:TITLE_FROM_DESCRIPTION_CHARS]
    space = cut.rfind(" ")
    if space > TITLE_FROM_DESCRIPTION_CHARS // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot hash {type(value).__name__}")


def content_hash(document: Any, *, keys_sorted: bool = False) -> str:
    """A stable SHA-256 of a JSON-able document (sorted keys, Decimal as text). `keys_sorted`:
    a flat dict whose keys were put in sorted order (the same bytes, not sorted again)."""
    option = orjson.OPT_UTC_Z if keys_sorted else orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z
    return hashlib.sha256(orjson.dumps(document, option=option, default=_json_default)).hexdigest()


class TenderCreate(BaseModel):
    """What a caller gives `TenderService.create`; only the title is required."""

    model_config = ConfigDict(str_strip_whitespace=True)

    # Limits fit the columns and indexes; a record beyond them is broken input (a rejection),
    # never a failed batch. The raw publication keeps whatever the source said.
    title: str = Field(min_length=1, max_length=2000)
    description: str | None = Field(default=None, max_length=100_000)
    cig: str | None = Field(default=None, max_length=10)
    source: str | None = Field(default=None, max_length=100)
    procedure_id: str | None = Field(default=None, max_length=500)
    lot_id: str | None = Field(default=None, max_length=500)
    buyer_name: str | None = Field(default=None, max_length=2000)
    buyer_id: str | None = Field(default=None, max_length=100)
    cpv: str | None = Field(default=None, max_length=12)
    nuts: str | None = Field(default=None, max_length=10)
    procedure_type: str | None = Field(default=None, max_length=500)
    status: TenderStatus | None = None
    amount: Decimal | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    published_at: datetime | None = None
    deadline_at: datetime | None = None
    award_amount: Decimal | None = None
    award_currency: str | None = Field(default=None, min_length=3, max_length=3)
    awarded_at: datetime | None = None
    supplier_name: str | None = Field(default=None, max_length=2000)
    supplier_id: str | None = Field(default=None, max_length=100)
    source_url: str | None = Field(default=None, max_length=4000)
    source_updated_at: datetime | None = None

    @field_validator("cig", mode="before")
    @classmethod
    def _empty_cig_is_none(cls, value: object) -> object:
        """A source without a CIG stores NULL, never an empty string (cig is unique)."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("currency", "award_currency", mode="before")
    @classmethod
    def _currency_code(cls, value: object) -> object:
        """`EURO`, `Euro`, `euros`, `€` are EUR; a code in lower case is upper-cased."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:
            return None
        return _CURRENCY_NAMES.get(text.casefold(), text.upper() if len(text) == 3 else text)

    @field_validator(*TEXT_FIELDS, mode="before")
    @classmethod
    def _not_a_container(cls, value: object) -> object:
        """A list or object where text belongs, or its Python/JSON text, is a mapping bug:
        refused, never stored as `[{'value': ...}]`."""
        first = value[:1] if type(value) is str else None
        if first is not None and first not in "[{" and not first.isspace():
            return value  # most text: what `_CONTAINER_TEXT` matches starts with one of these
        if isinstance(value, list | dict | tuple | set):
            raise ValueError(f"a {type(value).__name__} where text was expected")
        if isinstance(value, str) and _CONTAINER_TEXT.match(value):
            raise ValueError("text that is a written-out list or object: a mapping bug")
        return value

    @field_validator("amount", "award_amount", mode="after")
    @classmethod
    def _fits_the_column(cls, value: Decimal | None) -> Decimal | None:
        return None if value is None else fit_amount(value)

    @field_validator("published_at", "deadline_at", "awarded_at", "source_updated_at", mode="after")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return value
        if value.tzinfo is None:
            raise ValueError("a timestamp needs a time zone (readers localise source dates)")
        if not fits_timestamptz(value):
            raise ValueError(
                f"timestamp out of range: {value.isoformat()} is not in years 1-9999 in UTC"
            )
        return value

    @model_validator(mode="after")
    def _key_fits_the_index(self) -> Self:
        if not (self.source and self.procedure_id):
            return self
        if key_may_not_fit(self.source, self.procedure_id, self.lot_id):
            key = identity_key(self.source, self.procedure_id, self.lot_id, self.cig)
            check_indexable("source, procedure and lot id", key)
        return self


class TenderRecord(TenderCreate):
    """A record read from a publication: it knows its source, procedure and lot.

    `raw` is the procedure's whole publication; lots of one procedure share it and it is
    stored once. `position` says where in the source the record came from.
    """

    source: str = Field(min_length=1, max_length=100)
    procedure_id: str = Field(min_length=1, max_length=500)
    # Any, not dict: pydantic would copy a dict per lot, and lots must share one object.
    raw: Any = Field(default=None, exclude=True, repr=False)
    # The publication as the JSON text it was read from, when the reader has it: stored as it
    # is, and `raw` is then None (a parsed document takes four times the memory).
    raw_json: str | None = Field(default=None, exclude=True, repr=False)
    format: str = Field(default="ocds", exclude=True)
    position: str | None = Field(default=None, exclude=True)
    # The publication `raw` is stored under: the procedure (default), or one CIG for formats
    # that publish one document per lot.
    document_key: str | None = Field(default=None, exclude=True)
    # Hash of the document's bytes and of the mapping that read them (see DocumentDigest).
    source_digest: str | None = Field(default=None, exclude=True)
    # Fields left empty because the source's value could not be taken (readers.fields).
    warnings: list[FieldWarning] = Field(default_factory=list, exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _title_from_description(cls, data: Any) -> Any:
        if isinstance(data, dict) and not (data.get("title") or "").strip():
            derived = title_from_description(data.get("description"))
            if derived:
                data = {**data, "title": derived}
        return data

    @model_validator(mode="after")
    def _document_key_fits_the_index(self) -> Self:
        if self.document_key is not None:
            check_indexable(
                "source, format and document key", self.source, self.format, self.document_key
            )
        return self

    @property
    def identity_key(self) -> str:
        return identity_key(self.source, self.procedure_id, self.lot_id, self.cig)

    def hashed_fields(self) -> dict[str, Any]:
        """The fields `content_hash` covers, in sorted order."""
        values = self.__dict__
        return {name: values[name] for name in _SORTED_HASHED_FIELDS}

    def content_hash(self) -> str:
        return content_hash(self.hashed_fields(), keys_sorted=True)


def _escaped(part: str) -> str:
    return part.replace("\\", "\\\\").replace(":", "\\:")


def identity_key(source: str, procedure_id: str, lot_id: str | None, cig: str | None) -> str:
    """The natural key: ANAC records by CIG (`anac:<CIG>`, one CIG across all ANAC formats),
    others by source, procedure and lot (a procedure without lots counts as one lot):
    `<source>:<procedure>:<lot>`, where `\\` and `:` inside the procedure and lot ids are
    escaped with a `\\`. The source namespace keeps its own colons (`ocds:<prefix>`; only
    a `\\` in it is escaped): read from the right, the last two unescaped colons end it,
    so no two (source, procedure, lot) share a key, nor any of them an ANAC key (one colon).
    Migration 0004 re-keyed the rows written before the escaping."""
    if source == "anac" and cig:
        return f"anac:{cig}"
    namespace = source.replace("\\", "\\\\")
    return f"{namespace}:{_escaped(procedure_id)}:{_escaped(lot_id or '')}"


def key_may_not_fit(source: str, procedure_id: str, lot_id: str | None) -> bool:
    """Whether the identity key needs encoding to know it fits its index: at most 4 bytes a
    character, escaped or not, so most keys need not be encoded."""
    return (len(source) + len(procedure_id) + len(lot_id or "") + 2) * 4 > MAX_INDEXED_BYTES


def fits_timestamptz(value: datetime) -> bool:
    """Whether PostgreSQL and Python can both hold the moment: years 1-9999 once in UTC
    (the driver converts to UTC, and a date past 9999 could not be read back)."""
    if 1 < value.year < 9999:
        return True  # an offset moves it by less than a day
    try:
        value.astimezone(UTC)
    except OverflowError:
        return False
    return True


def fit_amount(value: Decimal) -> Decimal:
    """An amount as its numeric(18, 2) column keeps it: more than 2 decimals are rounded as
    PostgreSQL rounds them (half away from zero), which also brings an exponent like
    `1E-100000` (which the driver cannot even send) to 0.00; more than 16 digits before the
    point is out of range."""
    if not value.is_finite() or abs(value) >= AMOUNT_LIMIT:
        raise ValueError("amount out of range (at most 16 digits before the decimal point)")
    if value.quantize(_CENTS) == value:
        return value  # as written: `1000` stays `1000` (and so does its content hash)
    rounded = value.quantize(_CENTS, rounding=ROUND_HALF_UP)
    if abs(rounded) >= AMOUNT_LIMIT:
        raise ValueError("amount out of range (at most 16 digits before the decimal point)")
    return rounded


def check_indexable(what: str, *parts: str | None) -> None:
    """Raise ValueError when these values, one index's text columns, exceed what a btree
    index takes (see MAX_INDEXED_BYTES)."""
    if sum(len(part) for part in parts if part) * 4 <= MAX_INDEXED_BYTES:
        return  # at most 4 bytes a character
    size = sum(len(part.encode()) for part in parts if part)
    if size > MAX_INDEXED_BYTES:
        raise ValueError(
            f"{what} take {size} bytes in UTF-8: more than the {MAX_INDEXED_BYTES} "
            "PostgreSQL can index"
        )


@dataclass(frozen=True, slots=True)
class FieldWarning:
    """A field a reader could not take as the source wrote it: the tender is kept with the
    field empty, and this is stored beside the run's rejections (kind `field`)."""

    field: str
    problem: str
    raw: str | None = None

    RAW_CHARS = 500

    @classmethod
    def of(cls, field: str, problem: str, raw: object) -> FieldWarning:
        if raw is None or isinstance(raw, str):
            text = raw
        else:
            try:
                text = orjson.dumps(raw, default=str).decode()
            except TypeError:
                text = repr(raw)
        return cls(field, problem, None if text is None else text[: cls.RAW_CHARS])


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A record a reader could not map: where it was, why, and a short raw snippet."""

    reason: str
    position: str | None = None
    snippet: str | None = None

    SNIPPET_CHARS = 2000

    @classmethod
    def of(cls, reason: str, position: str | None, raw: object) -> RejectedRecord:
        if isinstance(raw, bytes):
            text = raw[: cls.SNIPPET_CHARS * 4].decode("utf-8", "replace")
        elif isinstance(raw, str):
            text = raw
        else:
            try:
                text = orjson.dumps(raw, default=str).decode()
            except TypeError:
                text = repr(raw)
        return cls(reason=reason, position=position, snippet=text[: cls.SNIPPET_CHARS])


@dataclass(frozen=True, slots=True)
class DocumentDigest:
    """Names a stored publication (`source`, `format`, `document_key`) and the digest of the
    bytes and mapping code it was read with: the same digest means the same tenders."""

    source: str
    format: str
    document_key: str
    digest: str


@dataclass(slots=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    # Alert events written with these tenders (the outbox): a batch that wrote any wakes the
    # dispatcher once it commits. Not part of equality: the counts compare the tenders.
    events: int = field(default=0, compare=False)

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.events + other.events,
        )
