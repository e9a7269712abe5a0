"""Helpers shared by the format readers."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from src.domain.tender.schemas import AMOUNT_LIMIT
from src.readers.items import ReadItem

_NOT_OBJECTS = frozenset({str, int, float, bool, list, type(None)})


def is_object(value: object) -> TypeGuard[Mapping[str, Any]]:
    """Whether a JSON value is an object: a dict at once; the abstract `Mapping` check (a
    call through `abc`, the mapping's most frequent) only for what JSON does not give."""
    kind = type(value)
    return kind is dict or (kind not in _NOT_OBJECTS and isinstance(value, Mapping))


ROME = ZoneInfo("Europe/Rome")
_END_OF_DAY = time(23, 59, 59)

ReadStream = Iterator[ReadItem]

# Standard (7 digits + 3 hex), SmartCIG (V-Z + 9 hex), new format from 2023 (A-U + 9 hex).
_CIG = re.compile(r"[0-9]{7}[0-9A-F]{3}|[V-Z][0-9A-F]{9}|[A-U][0-9A-F]{9}")


class InvalidCig(ValueError):  # noqa: N818 - a name the readers share
    pass


def normalize_cig(value: object) -> str:
    """Trimmed, uppercased CIG, checked against the three formats ANAC issues."""
    if not isinstance(value, str):
        raise InvalidCig(f"CIG must be text, got {type(value).__name__}")
    cig = value.strip().upper()
    if _CIG.fullmatch(cig) is None:
        raise InvalidCig(
            f"invalid CIG {value!r}: expected 10 characters, 7 digits + 3 hex (standard), "
            "V-Z + 9 hex (SmartCIG) or A-U + 9 hex"
        )
    return cig


def parse_timestamp(
    value: object, *, default_tz: tzinfo = ROME, end_of_day: bool = False
) -> datetime | None:
    """An ISO date or date-time; a value without a zone is local time of `default_tz`. A date
    without a time is the start of that day, or its end (23:59:59) with `end_of_day` (for a
    deadline). Empty means empty (None); anything unparseable raises ValueError."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"date must be text, got {type(value).__name__}")
    text = value.strip()
    if not text:
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"invalid date {value!r}") from None
        return datetime.combine(day, _END_OF_DAY if end_of_day else time(), tzinfo=default_tz)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(text[:10]), time())
        except ValueError:
            raise ValueError(f"invalid date {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_tz)
    return parsed


_NUMBERS = frozenset({int, float, Decimal})


def parse_amount(value: object) -> Decimal | None:
    """A number or numeric text ("1234.5", "1.234,50" as Italian sources write it)."""
    if value is None or value == "":
        return None
    if type(value) in _NUMBERS:  # what JSON gives (a bool is not one: its type is bool)
        amount = Decimal(str(value))
    elif isinstance(value, bool):
        raise ValueError(f"invalid amount {value!r}")
    elif isinstance(value, int | float | Decimal):
        amount = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip().replace("€", "").replace(" ", "")
        if not text:
            return None
        if "," in text and "." in text:
            text = text.replace(".", "").replace(",", ".")
        elif "," in text:
            text = text.replace(",", ".")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"invalid amount {value!r}") from None
    else:
        raise ValueError(f"invalid amount {value!r}")
    if not amount.is_finite() or abs(amount) >= AMOUNT_LIMIT:
        raise ValueError(f"amount out of range: {value!r}")
    return amount


def validation_problems(error: ValidationError) -> str:
    """A pydantic error as one line a user can act on: `field: message; field: message`."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}" for e in error.errors()
    )


def clean_text(value: object) -> str | None:
    """Text without NUL characters (PostgreSQL refuses them) and surrounding space."""
    if value is None:
        return None
    text = str(value).replace("\x00", "").strip()
    return text or None
