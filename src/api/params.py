"""Query and path parameter types shared by the routes, with messages a caller can act on."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

from fastapi import Query
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, Field

_CIG = re.compile(r"[0-9A-Za-z]{10}")
_CPV = re.compile(r"[0-9][0-9-]{0,11}")


def invalid(location: tuple[str, ...], message: str, value: Any) -> NoReturn:
    """A 422 shaped like FastAPI's own validation errors."""
    raise RequestValidationError(
        [{"type": "value_error", "loc": location, "msg": message, "input": value}]
    )


def _utc(value: datetime) -> datetime:
    """A date-time without an offset is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date-time is out of range") from None


def _text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


def _cig(value: str) -> str:
    if not _CIG.fullmatch(value.strip()):
        raise ValueError("a CIG is 10 letters and digits, e.g. 1234567A0B")
    return value.strip().upper()


def _cpv(value: str) -> str:
    if not _CPV.fullmatch(value):
        raise ValueError("a CPV code or prefix is digits (and the check digit's hyphen)")
    return value


UtcDateTime = Annotated[datetime, AfterValidator(_utc)]
Text = Annotated[str, AfterValidator(_text)]
Cig = Annotated[
    str,
    Field(json_schema_extra={"pattern": "^[0-9A-Za-z]{10}$"}, examples=["1234567A0B"]),
    AfterValidator(_cig),
]
Cpv = Annotated[
    str, Field(json_schema_extra={"pattern": "^[0-9][0-9-]{0,11}$"}), AfterValidator(_cpv)
]
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page (1 to 500).")]
Cursor = Annotated[
    str | None,
    Query(max_length=200, description="The next_cursor of the previous page."),
]
