"""How the domain's values are written into JSON columns. It lives beside the schemas because
what may be stored (Decimals from streaming parsers, text without NUL) is a domain rule; the
engine factory imports it so every JSON column uses it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
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
