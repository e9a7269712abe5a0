"""Values as ANAC writes them, shared by its readers (CIG CSV/JSON, the detail API, PVL).

Dates without an offset are Italian (Europe/Rome, DESIGN.md). A date-only deadline is the end
of that day (23:59:59 in Rome); a date-only publication, change or award date is its start.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, time
from decimal import Decimal
from typing import Any, TypeVar

from src.readers.common import ROME, clean_text, parse_amount, parse_timestamp
from src.readers.fields import FieldWarnings

T = TypeVar("T")

_CPV = re.compile(r"(\d{8})(?:-?(\d))?")
# A CPV code at the start of a PVL value ("45000000-7", "45000000-7_Lavori ...", "45000000").
_CPV_PREFIX = re.compile(r"(\d{8})(?:-(\d))?(?=$|[\s_:;,.-])")
_ITALIAN_DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
# PVL writes a date with an offset and no time ("2026-06-16+02:00"): still a date only.
_DATE_WITH_OFFSET = re.compile(r"(\d{4}-\d{2}-\d{2})(?:Z|[+-]\d{2}:?\d{2})")
# PVL's UTC times that are Italian wall times in disguise: midnight (a date without a time)
# and 23:59 (the end of the Italian day; 23:59 UTC would be 01:59 the next day in Rome).
_UTC_SUFFIX = r"(?::00(?:\.0+)?)?(?:Z|[+-]00:?00)"
_UTC_MIDNIGHT = re.compile(rf"(\d{{4}}-\d{{2}}-\d{{2}})T00:00{_UTC_SUFFIX}")
_UTC_2359 = re.compile(rf"(\d{{4}}-\d{{2}}-\d{{2}})T23:59{_UTC_SUFFIX}")
_LAST_MINUTE = time(23, 59)


def enum_text(value: object) -> str | None:
    """ANAC enumerations come in mixed case ("PROCEDURA APERTA" / "Procedura aperta")."""
    text = clean_text(value)
    return " ".join(text.split()).lower() if text else None


def cpv_code(value: object) -> str | None:
    """ "45000000-7" as ANAC publishes it; a code without its check digit stays "45000000" (the
    digit's algorithm is not published, so it is not made up). Other shapes: at most 12 chars."""
    text = "".join((clean_text(value) or "").split())
    match = _CPV.fullmatch(text)
    if match is None:
        return text[:12] or None
    return f"{match[1]}-{match[2]}" if match[2] else match[1]


def cpv_code_or_none(value: object) -> str | None:
    """The CPV code a PVL value starts with, else None: PVL often gives only the label
    ("Servizi sociali"), which is kept in the raw notice, never turned into a code."""
    text = clean_text(value)
    match = _CPV_PREFIX.match(text) if text else None
    if match is None:
        return None
    return f"{match[1]}-{match[2]}" if match[2] else match[1]


def amount(value: object) -> Decimal | None:
    """Without representation noise, so "148000" (CSV) and 148000.0 (JSON) hash the same."""
    parsed = parse_amount(value)
    if parsed is None:
        return None
    return parsed.quantize(Decimal(1)) if parsed == parsed.to_integral() else parsed.normalize()


def _iso(value: object) -> str | None:
    """ISO text, the Italian dd/mm/yyyy turned into ISO first."""
    if value is not None and not isinstance(value, str):
        raise ValueError(f"date must be text, got {type(value).__name__}")
    text = clean_text(value)
    if text and (match := _ITALIAN_DATE.match(text)):
        text = f"{match[3]}-{match[2]}-{match[1]}{text[10:]}"
    return text


def _parsed(value: object, *, end_of_day: bool) -> datetime | None:
    text = _iso(value)
    try:
        return parse_timestamp(text, end_of_day=end_of_day)
    except ValueError:
        raise ValueError(f"invalid date {value!r}") from None  # as written, not as ISO


def timestamp(value: object) -> datetime | None:
    """A publication, change or award date: ISO or dd/mm/yyyy; no zone means Europe/Rome; a
    date only is the start of the day."""
    return _parsed(value, end_of_day=False)


def deadline(value: object) -> datetime | None:
    """A deadline: as `timestamp`, but a date only is the end of that day (23:59:59 Rome)."""
    return _parsed(value, end_of_day=True)


def pvl_timestamp(value: object, *, end_of_day: bool = False) -> datetime | None:
    """A PVL date in each shape PVL writes: an offset ("+02:00", "Z") is kept, except that
    `T00:00:00Z` means a date without a time, and so does a date with an offset and no time
    ("2026-06-16+02:00"): the start of that day in Rome, or its end for a deadline. A
    `T23:59:00Z` deadline is 23:59 in Rome (the end of the Italian day the buyer meant). No
    offset means Europe/Rome."""
    text = _iso(value)
    if not text:
        return None
    day = _DATE_WITH_OFFSET.fullmatch(text) or _UTC_MIDNIGHT.fullmatch(text)
    if day is not None:
        return parse_timestamp(day[1], end_of_day=end_of_day)
    last_minute = _UTC_2359.fullmatch(text)
    if last_minute is not None:
        parsed = parse_timestamp(last_minute[1])
        assert parsed is not None  # a date matched
        return datetime.combine(parsed.date(), _LAST_MINUTE, tzinfo=ROME)
    return parse_timestamp(text, end_of_day=end_of_day)


def take_column(
    warnings: FieldWarnings,
    field: str,
    column: str,
    parse: Callable[[Any], T | None],
    value: Any,
) -> T | None:
    """`parse(value)` for the tender's `field`, or None with a warning naming the source's
    `column`."""

    def named(raw: Any) -> T | None:
        try:
            return parse(raw)
        except ValueError as error:
            raise ValueError(f"{column}: {error}") from None

    return warnings.take(field, named, value)


def joined(values: Iterable[str | None]) -> str | None:
    """Names or ids of several parties, as other formats join suppliers: distinct, in order,
    separated by "; "."""
    return "; ".join(dict.fromkeys(v for v in values if v)) or None
