"""JSON that cost a worker its life or its memory, at the readers: integers too long for
CPython (ijson's C backend crashed the process), nesting far past any real document (ijson's
memory grew with the square of the depth), items that vanished from the counts. Each is now
a rejection of its own item, or read as it should be; inputs that used to crash are read in a
child process under an address-space limit."""

from __future__ import annotations

import gzip
import io
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.domain.formats import Format
from src.domain.tender.schemas import RejectedRecord, TenderRecord
from src.infra.streams import DecompressionBudget, maybe_gunzip
from src.readers import ReadLimits, UnmappedDocument, map_document, read_source
from src.readers.json_guard import (
    DEPTH_MARKER,
    NUMBER_MARKER,
    JsonGuard,
    checked_number,
    line_too_deep,
)
from tests.support.hostile_json import (
    anac_item,
    array,
    cig,
    depth_bombs,
    json_lines,
    nested,
    number_bombs,
    package,
    release,
    with_member,
)
from tests.support.read_in_child import read_in_child

ONE_GIB = 1024**3


class Trickle(io.RawIOBase):
    """A stream that hands out its bytes a few at a time, so chunks end anywhere."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        super().__init__()
        self._data, self._sizes, self._at, self._turn = data, sizes or [1], 0, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), self._sizes[self._turn % len(self._sizes)])
        self._turn += 1
        piece = self._data[self._at : self._at + size]
        memoryview(buffer).cast("B")[: len(piece)] = piece
        self._at += len(piece)
        return len(piece)


def guarded(data: bytes, max_depth: int, sizes: list[int] | None = None) -> bytes:
    guard = JsonGuard(Trickle(data, sizes or [65536]), max_depth)  # type: ignore[arg-type]
    return b"".join(iter(lambda: guard.read(4096), b""))


def read(data: bytes, format_name: str = "ocds", **limits: Any) -> list[Any]:
    """Every item read, JSON lines handed on unmapped mapped as the pipeline would."""
    reading = read_source(
        io.BytesIO(data), "test.json", format=Format(format_name), limits=ReadLimits(**limits)
    )
    return _mapped(reading)


def _mapped(items: Iterable[Any]) -> list[Any]:
    return [
        mapped
        for item in items
        for mapped in (map_document(item) if isinstance(item, UnmappedDocument) else [item])
    ]


def rejections(items: list[Any]) -> list[str]:
    return [item.reason for item in items if isinstance(item, RejectedRecord)]


def cigs(items: list[Any]) -> list[str | None]:
    return [item.cig for item in items if isinstance(item, TenderRecord)]


# The guard between the bytes and the parser.


def test_what_needs_no_change_passes_unchanged_whatever_the_chunks() -> None:
    document = package(
        release(1),
        with_member(release(2), "notes", json.dumps('a "quoted" \\ [ { text 1e999').encode()),
        with_member(release(3), "x", b"[1.5e300, -9223372036854775808, 12345678901234567.25]"),
    )
    for sizes in ([1], [7, 3, 1], [65536]):
        assert guarded(document, 64, sizes) == document


@pytest.mark.parametrize(
    ("token", "read_as"),
    [
        ("123", "123"),
        ("9223372036854775807", "9223372036854775807"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("9223372036854775808", "9223372036854775808.0"),  # beyond 64 bits: a float
        ("-9223372036854775809", "-9223372036854775809.0"),
        ("1" * 309, "1" * 309 + ".0"),  # 1.1e308 still fits a double
        ("1e308", "1e308"),
        ("1e-999", "1e-999"),  # underflows to 0.0
        ("1" * 310, None),  # beyond a double's range
        ("1" * 4301, None),  # CPython refuses to parse it as an int
        ("-1e309", None),
        ("0." + "0" * 1200 + "1", None),  # longer than any double needs
    ],
)
def test_numbers_beyond_what_a_parser_survives_are_replaced(
    token: str, read_as: str | None
) -> None:
    assert checked_number(token.encode()) == (
        read_as.encode() if read_as else json.dumps(NUMBER_MARKER).encode()
    )
    out = json.loads(guarded(b'{"a": [' + token.encode() + b"]}", 64, [5, 3]))
    expected = json.loads(read_as) if read_as else NUMBER_MARKER
    assert out == {"a": [expected]}


def test_a_container_past_the_depth_limit_is_cut_out() -> None:
    data = b'{"a": [[["deep", {"b": 1}]], 2], "c": "[[[[", "d": [3]}'
    assert json.loads(guarded(data, 3, [2])) == {
        "a": [[DEPTH_MARKER], 2],
        "c": "[[[[",
        "d": [3],
    }
    bomb = guarded(b'{"x": ' + nested(100_000) + b', "y": 1}', 64, [4096])
    assert len(bomb) < 1000 and json.loads(bomb)["y"] == 1


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.text(alphabet='a"\\[]{}1 é\n', max_size=8)
    numbers = st.sampled_from(
        ["0", "-12", "1.5e7", "1e400", "-9223372036854775809", "1" * 400, "0.25", "9" * 19]
    ).map(lambda text: ("number", text))
    leaves = scalars | numbers
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(alphabet='k"\\{', max_size=3), children, max_size=3)
        ),
        max_leaves=30,
    )


def _dump(value: Any) -> str:
    if isinstance(value, tuple):
        return str(value[1])
    if isinstance(value, list):
        return "[" + ",".join(_dump(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}: {_dump(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _expected(value: Any, depth: int, max_depth: int) -> Any:
    """What the guard must make of `value`, as Python reads it."""
    if isinstance(value, list | dict):
        if depth + 1 > max_depth:
            return DEPTH_MARKER
        if isinstance(value, list):
            return [_expected(item, depth + 1, max_depth) for item in value]
        return {k: _expected(v, depth + 1, max_depth) for k, v in value.items()}
    if isinstance(value, tuple):
        checked = checked_number(value[1].encode())
        return NUMBER_MARKER if checked.startswith(b'"') else json.loads(checked)
    return value


@settings(max_examples=300, deadline=None)
@pytest.mark.slow  # hypothesis: many examples
@given(
    value=_json_values(),
    max_depth=st.integers(1, 6),
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=5),
)
def test_the_guard_reads_any_json_as_its_rules_say(
    value: Any, max_depth: int, sizes: list[int]
) -> None:
    text = _dump(value).encode()
    out = guarded(text, max_depth, sizes)
    assert json.loads(out) == _expected(value, 0, max_depth)
    if not _has_number(value) and _depth(value) <= max_depth:
        assert out == text
    assert line_too_deep(text, max_depth) == (_depth(value) > max_depth)


def _has_number(value: Any) -> bool:
    if isinstance(value, tuple):
        return True
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return any(_has_number(item) for item in items)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def test_line_too_deep_counts_brackets_outside_strings_only() -> None:
    assert not line_too_deep(b'{"a": "' + b"[" * 100 + b'"}', 3)
    assert not line_too_deep(b'{"a": [[1]]}', 3)
    assert line_too_deep(b'{"a": [[[1]]]}', 3)
    assert line_too_deep(b'{"a": "\\"", "b": [[[1]]]}', 3)


def test_line_too_deep_is_not_fooled_by_brackets_in_strings_or_alternating_levels() -> None:
    """Past the count of openers, a shortcut takes bracket pairs out round by round: a
    string holding a bracket, or levels that alternate `[` and `{`, must not fool it."""
    faked = b'["]", ' * 100 + b"1" + b', "["]' * 100
    assert _depth(json.loads(faked)) == 100
    assert line_too_deep(faked, 64)  # though its brackets, quotes aside, pair off at once
    for depth in range(60, 70):
        opening = b"".join(b'{"k": ' if level % 2 else b"[" for level in range(depth))
        closing = b"".join(b"}" if level % 2 else b"]" for level in reversed(range(depth)))
        nested = opening + b"1" + closing
        assert _depth(json.loads(nested)) == depth
        assert line_too_deep(nested, 64) == (depth > 64), depth
    wide = b"[" + b", ".join([b'{"a": [[{"b": "x[y"}]]}'] * 50) + b"]"
    assert not line_too_deep(wide, 5) and line_too_deep(wide, 4)


@settings(max_examples=300, deadline=None)
@pytest.mark.slow  # hypothesis: many examples
@given(
    value=st.recursive(
        st.text(alphabet='[]{}"\\a', max_size=4) | st.integers(0, 9),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.text(alphabet="[]{}ab", max_size=2), inner, max_size=4)
        ),
        max_leaves=60,
    ),
    max_depth=st.integers(1, 12),
)
def test_line_too_deep_knows_the_depth_of_any_json(value: Any, max_depth: int) -> None:
    text = json.dumps(value).encode()
    assert line_too_deep(text, max_depth) == (_depth(value) > max_depth)


# Numbers and nesting at every JSON reader, in a child process (a crash cannot be caught).


@pytest.mark.slow  # each in a child process under a memory limit: ~1.5 s apiece
@pytest.mark.parametrize("digits", [4301, 100_000])
@pytest.mark.parametrize("shape", range(4))
def test_an_integer_too_long_for_cpython_is_a_rejection_of_its_item(
    tmp_path: Path, digits: int, shape: int
) -> None:
    bomb = number_bombs(1_000_000, digits)[shape]
    source = tmp_path / f"{bomb.name}.json"
    source.write_bytes(bomb.content)
    code, items, stderr = read_in_child(bomb.format, source, address_space=ONE_GIB)
    assert code == 0, stderr
    kept = [item for item in items if item["type"] != "RejectedRecord"]
    refused = [item["reason"] for item in items if item["type"] == "RejectedRecord"]
    assert len(kept) == len(bomb.good) and len(refused) == 1
    assert bomb.reason in refused[0]


@pytest.mark.slow  # each in a child process under a memory limit
@pytest.mark.parametrize("shape", range(4))
def test_nesting_100000_levels_deep_is_a_rejection_in_bounded_memory(
    tmp_path: Path, shape: int
) -> None:
    bomb = depth_bombs(2_000_000, 100_000)[shape]
    source = tmp_path / f"{bomb.name}.json"
    source.write_bytes(bomb.content)
    code, items, stderr = read_in_child(bomb.format, source, address_space=ONE_GIB)
    assert code == 0, stderr
    kept = [item for item in items if item["type"] != "RejectedRecord"]
    refused = [item["reason"] for item in items if item["type"] == "RejectedRecord"]
    assert len(kept) == len(bomb.good) and len(refused) == 1
    assert "nested deeper than 64 levels (MAX_JSON_DEPTH)" in refused[0]


def test_the_depth_limit_is_a_setting_and_counts_from_the_document_top() -> None:
    """Six levels more in a release: too deep in a package (it starts at level 3), not as a
    JSON line of its own; eight more are too deep there too."""
    six, eight = (with_member(release(2), "x", nested(levels)) for levels in (6, 8))
    items = read(package(release(1), six), max_json_depth=8)
    assert cigs(items) == [cig(1)]
    assert rejections(items) == [
        "release 2 is nested deeper than 8 levels (MAX_JSON_DEPTH): not read"
    ]
    items = read(json_lines(release(1), six, eight, release(3)), max_json_depth=8)
    assert cigs(items) == [cig(1), cig(2), cig(3)]
    assert rejections(items) == ["line 3 is nested deeper than 8 levels (MAX_JSON_DEPTH): not read"]


def test_an_integer_beyond_64_bits_is_read_as_a_float_in_every_reader() -> None:
    big = b"123456789012345678901234567890"
    items = read(package(with_member(release(1), "x", big)))
    assert cigs(items) == [cig(1)]
    assert cigs(read(json_lines(with_member(release(2), "x", big)))) == [cig(2)]
    anac = read(array(with_member(anac_item(3), "x", big)), "anac_json")
    assert cigs(anac) == [cig(3)]
    assert math.isclose(float(anac[0].raw["x"]), 1.2345678901234568e29)


def test_an_anac_item_past_the_object_size_is_a_rejection() -> None:
    large = with_member(anac_item(2), "notes", json.dumps("x" * 200_000).encode())
    items = read(array(anac_item(1), large, anac_item(3)), "anac_json", max_object_bytes=100_000)
    assert cigs(items) == [cig(1), cig(3)]
    assert rejections(items) == [
        "item 2 is larger than 100000 bytes (MAX_OBJECT_BYTES): not read "
        "(a single publication this size is broken input)"
    ]


# A package's own fields count against the object size; those nothing reads are not built.


def test_the_fields_a_package_keeps_count_against_the_object_size_after_its_releases() -> None:
    links = b'{"next": "https://example.com/page-2", "notes": "' + b"x" * 200_000 + b'"}'
    items = read(
        package(release(1), release(2), after=b', "links": ' + links), max_object_bytes=100_000
    )
    assert cigs(items) == [cig(1), cig(2)]
    assert rejections(items) == [
        "value 1 is larger than 100000 bytes (MAX_OBJECT_BYTES): not read "
        "(a single publication this size is broken input)"
    ]


def test_a_package_field_nothing_reads_is_left_out_unbuilt() -> None:
    """Past the object size, and holding a number out of range: not read, so no matter."""
    extensions = b', "extensions": [' + b", ".join([b'"https://example.com/e.json"'] * 20_000)
    after = extensions + b'], "y": [' + b"1" * 5000 + b'], "links": {}'
    items = read(package(release(1), after=after), max_object_bytes=100_000)
    assert cigs(items) == [cig(1)] and rejections(items) == []


# Every input item is a row or a rejection.


@pytest.mark.parametrize(
    ("releases", "kind"), [(b'{"a": 1}', "an object"), (b'"none"', "a string")]
)
def test_releases_that_are_not_an_array_are_a_rejection(releases: bytes, kind: str) -> None:
    items = read(b'{"version": "1.1", "releases": ' + releases + b"}")
    assert rejections(items) == [f"value 1: its releases is {kind}, not an array: not read"]


def test_every_json_line_that_is_not_an_ocds_object_is_a_rejection() -> None:
    lines = json_lines(release(1), b"[1, 2]", b'"text"', b"5", b"null", b'{"a": 1}', release(2))
    items = read(lines)
    assert cigs(items) == [cig(1), cig(2)]
    assert rejections(items) == [
        "line 2 is an array, not a JSON object: not read",
        "line 3 is a string, not a JSON object: not read",
        "line 4 is a number, not a JSON object: not read",
        "line 5 is null, not a JSON object: not read",
        "line 6 is not OCDS: no releases, records or ocid (keys: a)",
    ]


def test_array_items_that_are_not_objects_are_rejections() -> None:
    items = read(array(release(1), b"7", b"[]", release(2)))
    assert cigs(items) == [cig(1), cig(2)]
    assert rejections(items) == [
        "value 2 is a number, not a JSON object: not read",
        "value 3 is an array, not a JSON object: not read",
    ]


# A byte-order mark before the JSON.

_BOM = b"\xef\xbb\xbf"
_RECORDS = (
    b'{"version": "1.1", "records": ['
    + b", ".join(
        b'{"ocid": "ocds-hu01ve-%d", "compiledRelease": %s}' % (i, release(i)) for i in (1, 2)
    )
    + b"]}"
)


@pytest.mark.parametrize(
    "document",
    [package(release(1), release(2)), json_lines(release(1), release(2)), _RECORDS],
    ids=["release package", "JSON Lines", "record package"],
)
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_byte_order_mark_is_skipped(document: bytes, compress: bool) -> None:
    data = _BOM + document
    budget = DecompressionBudget()
    stream = io.BytesIO(gzip.compress(data) if compress else data)
    with maybe_gunzip(stream, budget, "s.json") as source:
        items = _mapped(read_source(source, "s.json", budget=budget))
    assert cigs(items) == [cig(1), cig(2)] and rejections(items) == []
