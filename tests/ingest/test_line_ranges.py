"""The byte ranges a split JSON Lines source is read in: every line belongs to exactly one
range wherever the cuts fall, and a long line passes in bounded pieces (a 200 MB line was
read whole, twice over, before)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from src.infra.chunks import is_json_lines, open_range, plan_ranges

LONG = 2 * 1024**2 + 17  # a line longer than the reader's buffer


class Spy(io.BufferedReader):
    """A file that records the size asked of each `readline`."""

    def __init__(self, raw: Any) -> None:
        super().__init__(raw)
        self.asked: list[int] = []

    def readline(self, size: int | None = -1, /) -> bytes:
        self.asked.append(-1 if size is None else size)
        return super().readline(size)


def _source(tmp_path: Path, long: bool) -> Path:
    path = tmp_path / "lines.jsonl"
    lines = [b'{"n": %d}' % i for i in range(40)]
    if long:
        lines[7] = b'{"long": "' + b"x" * LONG + b'"}'
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize(
    ("long", "chunk"), [(False, 1), (False, 7), (True, 300_001), (True, 1024**2), (True, 1 << 30)]
)
def test_ranges_cut_anywhere_hold_every_line_once_read_in_pieces(
    tmp_path: Path, long: bool, chunk: int
) -> None:
    path = _source(tmp_path, long)
    pieces: list[bytes] = []
    asked: list[int] = []
    for start, end in plan_ranges(path.stat().st_size, chunk):
        with path.open("rb", buffering=0) as raw:
            handle = Spy(raw)
            stream = open_range(handle, start, end)
            while piece := stream.read(65536):
                pieces.append(piece)
            asked += handle.asked
    assert b"".join(pieces) == path.read_bytes()
    assert asked and all(0 < size <= 1024**2 for size in asked), sorted(set(asked))[:5]


def test_json_lines_are_told_by_their_first_line(tmp_path: Path) -> None:
    def told(content: bytes) -> bool:
        path = tmp_path / "first.jsonl"
        path.write_bytes(content)
        return is_json_lines(path)

    assert told(b'{"ocid": "a"}\n{"ocid": "b"}\n')
    assert told(b'\xef\xbb\xbf{"ocid": "a"}\n')  # after a byte-order mark
    assert told(b'{"ocid": "a", "x": ' + b"1" * 5000 + b"}\n")  # a line the reader rejects
    assert not told(b'{\n "releases": []\n}\n')  # pretty-printed: one document
    # A first line over 1 MiB is not looked at whole: such a source is read unsplit.
    assert not told(b'{"releases": [' + b'{"ocid": "a"}, ' * 100_000 + b"{}]}\n")


def test_a_range_fills_the_buffer_with_whole_lines_up_to_its_end() -> None:
    from src.infra.chunks import LineRange

    content = b"a\nbb\nccc\ndddd\n"  # lines start at 0, 2, 5 and 9
    with io.BytesIO(content) as handle:
        lines = LineRange(handle, 1, 6)  # the lines that start in [1, 6): bb, ccc
        buffer = bytearray(64)
        assert lines.readinto(buffer) == 7 and bytes(buffer[:7]) == b"bb\nccc\n"
        assert lines.readinto(buffer) == 0
    with io.BytesIO(content) as handle:
        lines = LineRange(handle, 0, len(content))
        small = bytearray(4)  # a line longer than what is left comes in pieces
        pieces = []
        while size := lines.readinto(small):
            pieces.append(bytes(small[:size]))
        assert pieces == [b"a\nbb", b"\nccc", b"\nddd", b"d\n"]
