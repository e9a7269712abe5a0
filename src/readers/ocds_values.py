"""An OCDS release's values read as their publisher meant them: a date without an offset in
the publisher's zone (ANAC's noon-UTC placeholder is a date without a time), and a value that
cannot be taken left empty with a warning, so that one bad field never drops a tender."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any, TypeVar

from src.readers.common import ROME, clean_text, is_object, parse_amount, parse_timestamp
from src.readers.fields import FieldWarnings

K = TypeVar("K", bound=Hashable)

# ANAC's OCDS writes every date as noon UTC: a date without a time. Its malformed release
# dates ("2025-01-08 17:31:38.793T12:00:00Z") carry the placeholder after a local time.
ANAC_DATE_ONLY = "T12:00:00Z"
_DATE_WITH_PLACEHOLDER = len("2022-01-26") + len(ANAC_DATE_ONLY)


# Dates read so far, as `ReleaseValues.read_date` read them (a few thousand: emptied when full),
# by texts of a date's length (a longer one, padded or with a tail, is parsed each time).
_PARSED_DATES: dict[tuple[str, bool, tzinfo, bool], datetime | None] = {}
_DATES_KEPT = 8192
_DATE_TEXT_KEPT = 64
# ANAC's release dates as written, read as `parse_timestamp` reads them (kept the same way).
_PARSED_STAMPS: dict[str, datetime | None] = {}


def text_value(value: object) -> str | None:
    """Text, or a number written as text; a list or object where text belongs is refused
    (its `str()` would be a mapping bug in a text column)."""
    if type(value) is str:  # what JSON gives: the common case, without a call
        text = value.replace("\x00", "").strip() if "\x00" in value else value.strip()
        return text or None
    if value is None or isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return clean_text(value)
    raise ValueError(f"{type(value).__name__} where text was expected")


def obj(value: object) -> Mapping[str, Any]:
    """The value when it is a JSON object, else an empty one (publishers send nulls)."""
    return value if is_object(value) else {}


@dataclass
class ReleaseValues:
    """Reads the values of one release for one record (a lot): what cannot be read is None
    and a warning in `warnings`."""

    zone: tzinfo
    anac: bool = False
    warnings: FieldWarnings = field(default_factory=FieldWarnings)

    def for_lot(self) -> ReleaseValues:
        """A reader for one lot: the release's warnings so far, and the lot's own after."""
        return ReleaseValues(self.zone, self.anac, FieldWarnings(self.warnings))

    def date(self, name: str, raw: object, *, end_of_day: bool = False) -> datetime | None:
        """A date-time; a date alone is the start of its day, or its end for a deadline."""
        return self.warnings.take(name, self.read_date, raw, end_of_day)

    def stamp(self, name: str, raw: object) -> datetime | None:
        """A release's own date, which orders its versions: ANAC's noon UTC is kept as
        written (a stored version read before stays comparable, so a re-ingest is not taken
        for an older one); its malformed dates are the local time before the placeholder."""
        if self.anac and isinstance(raw, str) and len(raw.strip()) == _DATE_WITH_PLACEHOLDER:
            return self.warnings.take(name, _anac_stamp, raw)
        return self.date(name, raw)

    def read_date(self, raw: object, end_of_day: bool) -> datetime | None:
        """`date` without the warning: ValueError for a date that cannot be read."""
        if type(raw) is not str or len(raw) > _DATE_TEXT_KEPT:
            return self._parse_date(raw, end_of_day)
        # A source repeats its dates (a day's notices, a release's own dates): each text is
        # parsed once.
        key = (raw, end_of_day, self.zone, self.anac)
        return _kept(_PARSED_DATES, key, self._parse_date, raw, end_of_day)

    def _parse_date(self, raw: object, end_of_day: bool) -> datetime | None:
        if self.anac and isinstance(raw, str) and raw.strip().endswith(ANAC_DATE_ONLY):
            local = raw.strip()[: -len(ANAC_DATE_ONLY)].strip()
            return parse_timestamp(local, default_tz=ROME, end_of_day=end_of_day)
        return parse_timestamp(raw, default_tz=self.zone, end_of_day=end_of_day)

    def text(self, name: str, raw: object) -> str | None:
        if type(raw) is str:
            return text_value(raw)  # what JSON gives, never refused: no warning to catch
        return self.warnings.take(name, text_value, raw)

    def money(self, prefix: str, container: object) -> tuple[Decimal | None, str | None]:
        """`value.amount` and `value.currency` of an OCDS object (tender, lot, award);
        `prefix` names the record's fields ("" for amount, "award_" for award_amount)."""
        value = obj(container).get("value")
        if not is_object(value):
            return None, None
        amount = self.warnings.take(f"{prefix}amount", parse_amount, value.get("amount"))
        currency = self.text(f"{prefix}currency", value.get("currency"))
        return amount, currency


def _anac_stamp(raw: str) -> datetime | None:
    """An ANAC release date as written (`ReleaseValues.stamp`), parsed once per text."""
    if len(raw) > _DATE_TEXT_KEPT:
        return parse_timestamp(raw)
    return _kept(_PARSED_STAMPS, raw, parse_timestamp, raw)


def _kept(
    table: dict[K, datetime | None], key: K, parse: Callable[..., datetime | None], *args: Any
) -> datetime | None:
    """`parse(*args)`, kept in `table` by `key` (emptied when full). Dates are immutable; one
    that cannot be read is not kept (it raises)."""
    try:
        return table[key]
    except KeyError:
        if len(table) >= _DATES_KEPT:
            table.clear()
        moment = table[key] = parse(*args)
        return moment
