"""How the domain's values are written into JSON columns. It lives beside the schemas because
what may be stored (Decimals from streaming parsers, text without NUL) is a domain rule; the
engine factory imports it so every JSON column uses it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

_INT64 = 2**63


def _json_default(value: object) -> object:
    """A Decimal as a JSON number: an integer when it is one and fits 64 bits (orjson writes
    no larger integer, and turning 1E+999999999 into an int would take minutes), else a float."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and -_INT64 <= value < _INT64:
            return int(value)
        return float(value)
    raise TypeError(f"cannot store {type(value).__name__} in a JSON column")


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def json_serializer(value: object) -> str:
    """JSON columns via orjson; Decimal numbers (from streaming parsers) as JSON numbers.
    NUL characters are dropped: PostgreSQL's JSON types refuse `\\u0000`, and one such
    character must not cost a whole batch."""
    text = orjson.dumps(value, default=_json_default).decode()
    if "\\u0000" in text:
        text = orjson.dumps(_without_nul(value), default=_json_default).decode()
    return text
