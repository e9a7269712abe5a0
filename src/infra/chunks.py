"""Splitting a large JSON Lines file into byte ranges that several workers ingest at once.
A range [start, end) owns the lines whose first byte lies in it, so ranges cut anywhere and
every line belongs to exactly one of them."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from src.infra.sources import open_regular_file
from src.infra.streams import GZIP_MAGIC, ZIP_MAGIC

# The smallest of the last ranges, as a share of `chunk_bytes`.
TAIL_FLOOR = 4
# Near the end, a range takes at most this share of what is left.
_TAIL_SHARE = 4


def plan_ranges(size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """Ranges of `chunk_bytes`, then shorter ones: each takes at most a quarter of what is
    left, down to a quarter of `chunk_bytes` (a rest below half of that joins the last).
    The jobs run in file order, so the last ones to start are short and the workers that
    share a file finish it nearly together: with equal ranges, 7 of them on 4 job slots
    (two processes), one process sat idle for the last fifth of the file."""
    if size <= 0:
        return [(0, 0)]
    floor = max(1, chunk_bytes // TAIL_FLOOR)
    ranges: list[tuple[int, int]] = []
    start = 0
    while start < size:
        left = size - start
        piece = min(left, max(floor, min(chunk_bytes, left // _TAIL_SHARE)))
        if left - piece < floor // 2:
            piece = left
        ranges.append((start, start + piece))
        start += piece
    return ranges


_COUNT_BYTES = 1 << 16  # read at a time (below the size the allocator maps on its own)
_SLICE_BYTES = 1 << 22  # counted between two pauses


def count_first_lines(path: Path, starts: Sequence[int], numbers: list[int]) -> Iterator[None]:
    """Appends to `numbers`, for each range start (ascending), the number in the whole file
    (from 1) of the first line the range owns: the line after the first newline at or past
    `start - 1`. One pass over the file up to the last start, counting newlines; it pauses
    (yields) after every few MB, so that an event loop can run it between its other work.
    (Run in a thread of its own instead, it cost that thread's memory arena: a worker reading
    a 200 MB line under a 512 MiB address-space limit then ran out of it.)"""
    newlines = counted_to = 0  # newlines in [0, counted_to)
    with open_regular_file(path) as handle:
        for start in starts:
            if start <= 0:
                numbers.append(1)
                continue
            handle.seek(counted_to)
            while counted_to < start - 1:
                block = handle.read(min(_COUNT_BYTES, start - 1 - counted_to))
                if not block:
                    break
                read = len(block)
                newlines += block.count(b"\n")
                if (counted_to + read) // _SLICE_BYTES > counted_to // _SLICE_BYTES:
                    yield
                counted_to += read
            numbers.append(newlines + 2)


_BOM = b"\xef\xbb\xbf"
_FIRST_LINE_BYTES = 1 << 20  # a first line longer than this is not looked at: not split
_CONTENT_ERRORS = ("infinity", "depth", "ecursion")  # orjson refusing a line's content


def is_json_lines(path: Path) -> bool:
    """An uncompressed file whose first line is a whole JSON object: JSON Lines (also when
    orjson refuses it only for a number out of range or its depth: the reader rejects that
    line alone). Blocking I/O (the first line may be long): call it off the event loop."""
    with open_regular_file(path) as handle:
        head = handle.read(4)
        if head.startswith((GZIP_MAGIC, ZIP_MAGIC)):
            return False
        handle.seek(len(_BOM) if head.startswith(_BOM) else 0)
        first = handle.readline(_FIRST_LINE_BYTES).strip()
    if not first.startswith(b"{"):
        return False
    try:
        return isinstance(orjson.loads(first), dict)
    except orjson.JSONDecodeError as error:
        return any(word in str(error) for word in _CONTENT_ERRORS)


def _skip_line(handle: BinaryIO) -> None:
    """Read past the end of the current line, in pieces (a line may be any length)."""
    while (piece := handle.readline(_FIRST_LINE_BYTES)) and not piece.endswith(b"\n"):
        pass


class LineRange(io.RawIOBase):
    """The bytes of the lines that start in [start, end) of an open binary file. A long line
    passes in pieces of at most the reader's buffer, never whole."""

    def __init__(self, handle: BinaryIO, start: int, end: int) -> None:
        super().__init__()
        self._handle = handle
        self._end = end
        self._at_line_start = True
        if start > 0:
            handle.seek(start - 1)
            _skip_line(handle)  # the rest of the line that started before `start`
        else:
            handle.seek(0)
        self._at = handle.tell()  # then counted here, not asked of the file for each line

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """As many lines as `buffer` holds (a line longer than what is left of it comes in
        pieces): a call per buffer, not per line."""
        view = memoryview(buffer).cast("B")
        room, filled = len(view), 0
        while filled < room and not (self._at_line_start and self._at >= self._end):
            piece = self._handle.readline(room - filled)
            if not piece:
                break
            size = len(piece)
            view[filled : filled + size] = piece
            filled += size
            self._at += size
            self._at_line_start = piece.endswith(b"\n")
        return filled


def open_range(handle: BinaryIO, start: int, end: int) -> BinaryIO:
    return io.BufferedReader(LineRange(handle, start, end), buffer_size=1 << 20)
