"""What a JSON column may hold: Decimals from the streaming parsers as JSON numbers, however
large (an integral one beyond 64 bits failed its whole batch, 1E+999999999 took minutes)."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from src.domain.serialization import json_serializer


@pytest.mark.parametrize(
    ("number", "stored"),
    [
        ("148000.00", 148000),
        ("95000.5", 95000.5),
        ("-9223372036854775808", -9223372036854775808),
        ("9223372036854775808", 9.223372036854776e18),  # beyond 64 bits: a float
        ("123456789012345678901234567890.0", 1.2345678901234568e29),
        ("1.5E+20", 1.5e20),
        ("1E+999999999", None),  # beyond a double: null, at once
        ("1E-999999999", 0.0),
    ],
)
def test_decimals_are_stored_as_json_numbers(number: str, stored: float | None) -> None:
    assert orjson.loads(json_serializer({"x": Decimal(number)})) == {"x": stored}
