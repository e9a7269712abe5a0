"""What a watch is made of, checked once for the CLI and the API alike."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from src.domain.tender.schemas import TENDER_STATUSES, TRACKED_FIELDS
from src.domain.tender.services.filters import cpv_prefix, search_words

EventKind = Literal["new", "changed", "deadline_near"]
EVENT_KINDS: tuple[EventKind, ...] = ("new", "changed", "deadline_near")
DEFAULT_EVENTS: tuple[EventKind, ...] = ("new", "changed")
Digest = Literal["immediate", "hourly", "daily"]
# Statuses after which a deadline no longer matters: no `deadline_near` for them.
CLOSED_STATUSES: tuple[str, ...] = ("cancelled", "complete", "unsuccessful", "withdrawn")

_NUTS = re.compile(r"^[A-Z]{2}[0-9A-Z]{0,3}$")
_CPV_PREFIX = re.compile(r"^[0-9]{1,8}$")
_EMAIL = re.compile(
    r"^[^@\s<>,;\x00-\x1f\x7f]{1,64}@[^@\s<>,;\x00-\x1f\x7f]{1,255}"
    r"\.[^@\s<>,;.\x00-\x1f\x7f]{2,63}$"
)
# Control characters (NUL cannot even be stored) and whitespace have no place in a URL.
_NOT_IN_URL = re.compile(r"[\x00-\x20\x7f]")
_NAME = re.compile(r"^[^\x00-\x1f/]{1,200}$")
MAX_LIST = 100
# A watch of words only is indexed by the start of its longest word (words are prefixes)
# when that word has at least this many letters.
WORD_KEY_CHARS = 4


def _words(value: str | None) -> str | None:
    """Words as the search normalises them (lower case, letters and digits), space-joined."""
    if value is None or not value.strip():
        return None
    return " ".join(search_words(value))


class WatchSpec(BaseModel):
    """A watch as a user describes it. Empty filters hold for every tender; `events` says
    which events are sent, `fields` which tracked fields count as `changed` (all if empty);
    exactly one of `webhook_url` and `email` says where."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    cpv: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    buyer_ids: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    buyer_words: str | None = Field(default=None, max_length=500)
    nuts: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    # As stored: 16 digits and cents.
    amount_min: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=2)
    amount_max: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=2)
    words: str | None = Field(default=None, max_length=500)
    sources: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    statuses: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    events: list[EventKind] = Field(default_factory=lambda: [*DEFAULT_EVENTS], min_length=1)
    fields: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    deadline_days: int = Field(default=7, ge=1, le=365)
    webhook_url: str | None = Field(default=None, max_length=2000)
    email: str | None = Field(default=None, max_length=320)
    digest: Digest = "immediate"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("a name is 1-200 characters, without control characters or '/'")
        return value

    @field_validator("cpv")
    @classmethod
    def _cpv(cls, values: list[str]) -> list[str]:
        prefixes = [cpv_prefix(value.strip()) for value in values if value.strip()]
        for prefix in prefixes:
            if not _CPV_PREFIX.match(prefix):
                raise ValueError(f"{prefix!r} is not a CPV code or prefix (1-8 digits)")
        return sorted(set(prefixes))

    @field_validator("nuts")
    @classmethod
    def _nuts(cls, values: list[str]) -> list[str]:
        codes = [value.strip().upper() for value in values if value.strip()]
        for code in codes:
            if not _NUTS.match(code):
                raise ValueError(f"{code!r} is not a NUTS code or prefix (IT, ITC, ITC4, ITC45)")
        return sorted(set(codes))

    @field_validator("buyer_ids", "sources")
    @classmethod
    def _texts(cls, values: list[str]) -> list[str]:
        cleaned = sorted({value.strip() for value in values if value.strip()})
        if any(len(value) > 500 for value in cleaned):
            raise ValueError("at most 500 characters each")
        if any("\x00" in value for value in cleaned):
            raise ValueError("NUL characters are not allowed")
        return cleaned

    @field_validator("statuses")
    @classmethod
    def _statuses(cls, values: list[str]) -> list[str]:
        unknown = sorted(set(values) - TENDER_STATUSES)
        if unknown:
            raise ValueError(f"unknown status {unknown}: one of {sorted(TENDER_STATUSES)}")
        return sorted(set(values))

    @field_validator("fields")
    @classmethod
    def _fields(cls, values: list[str]) -> list[str]:
        unknown = sorted(set(values) - set(TRACKED_FIELDS))
        if unknown:
            raise ValueError(f"unknown field {unknown}: one of {list(TRACKED_FIELDS)}")
        return sorted(set(values))

    @field_validator("events")
    @classmethod
    def _events(cls, values: list[EventKind]) -> list[EventKind]:
        return [kind for kind in EVENT_KINDS if kind in values]

    @field_validator("words", "buyer_words")
    @classmethod
    def _search(cls, value: str | None) -> str | None:
        return _words(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError("not an email address")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("a webhook is an http:// or https:// URL")
        if _NOT_IN_URL.search(value):
            raise ValueError("a URL has no spaces or control characters")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError when it is not a number
        except ValueError as error:
            raise ValueError(f"not a URL ({error})") from None
        if not parts.hostname:
            raise ValueError("the URL has no host name")
        return value

    @model_validator(mode="after")
    def _target(self) -> Self:
        if (self.webhook_url is None) == (self.email is None):
            raise ValueError("give exactly one target: a webhook URL or an email address")
        if self.webhook_url is not None and self.digest != "immediate":
            raise ValueError("digests are for email; a webhook gets each batch as it happens")
        if (
            self.amount_min is not None
            and self.amount_max is not None
            and self.amount_min > self.amount_max
        ):
            raise ValueError("amount_min is above amount_max")
        return self

    def index_keys(self) -> list[str]:
        """The index entries of the watch's most selective filter (see `WatchKey`)."""
        for prefix, values in (
            ("cpv", self.cpv),
            ("nuts", self.nuts),
            ("buyer", self.buyer_ids),
            ("source", self.sources),
        ):
            if values:
                return [f"{prefix}:{value}" for value in values]
        word = max((self.words or "").split(), key=len, default="")
        if len(word) >= WORD_KEY_CHARS:
            # Its longest word's start, as the tenders' words are cut (see services.matching).
            return [f"word:{word[:WORD_KEY_CHARS]}"]
        return ["*"]
