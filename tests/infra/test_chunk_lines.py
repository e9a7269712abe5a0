"""A chunk's first line is numbered as in the whole file: `count_first_lines` counts, for
each range, the line that `open_range` reads first."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from src.infra.chunks import count_first_lines, open_range, plan_ranges


def first_line_numbers(path: Path, starts: list[int]) -> list[int]:
    """`count_first_lines` run to its end (it pauses for an event loop between slices)."""
    numbers: list[int] = []
    for _ in count_first_lines(path, starts, numbers):
        pass
    return numbers


def _expected(data: bytes, starts: list[int]) -> list[int]:
    """The number of the first line starting at or after each start (lines from 1)."""
    line_starts = [0] + [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    return [
        next((n for n, at in enumerate(line_starts, 1) if at >= start), len(line_starts) + 1)
        for start in starts
    ]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"x")), max_size=40),
    chunk_bytes=st.integers(1, 64),
    ends_with_newline=st.booleans(),
)
def test_each_range_starts_at_the_line_the_count_says(
    lines: list[bytes], chunk_bytes: int, ends_with_newline: bool
) -> None:
    data = b"\n".join(lines) + (b"\n" if ends_with_newline and lines else b"")
    ranges = plan_ranges(len(data), chunk_bytes)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "source.jsonl"
        path.write_bytes(data)
        numbers = first_line_numbers(path, [start for start, _ in ranges])
        assert numbers == _expected(data, [start for start, _ in ranges])
        whole = data.split(b"\n")
        with path.open("rb") as handle:
            for (start, end), number in zip(ranges, numbers, strict=True):
                first = open_range(handle, start, end).readline()
                if first:  # a range in which no line starts reads as empty
                    assert first.rstrip(b"\n") == whole[number - 1]


def test_a_big_file_is_counted_in_one_pass_with_pauses(tmp_path: Path) -> None:
    """The count runs on the worker's event loop: it pauses every few MB."""
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"".join(b"%d\n" % i for i in range(1, 2_000_001)))  # 14.9 MB
    ranges = plan_ranges(path.stat().st_size, 1_000_000)
    numbers: list[int] = []
    pauses = sum(1 for _ in count_first_lines(path, [start for start, _ in ranges], numbers))
    assert pauses == (ranges[-1][0] - 1) // (1 << 22) == 3  # counted up to the last start
    assert numbers == first_line_numbers(path, [start for start, _ in ranges])
    with path.open("rb") as handle:
        for (start, end), number in zip(ranges, numbers, strict=True):
            assert open_range(handle, start, end).readline() == b"%d\n" % number
