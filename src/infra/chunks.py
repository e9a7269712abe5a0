"""Splitting a large JSON Lines file into byte ranges that several workers ingest at once.
A range [start, end) owns the lines whose first byte lies in it, so ranges cut anywhere and
every line belongs to exactly one of them."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from src.infra.sources import open_regular_file
from src.infra.streams import GZIP_MAGIC, ZIP_MAGIC


def plan_ranges(size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    if size <= 0:
        return [(0, 0)]
    return [(start, min(start + chunk_bytes, size)) for start in range(0, size, chunk_bytes)]


def is_json_lines(path: Path) -> bool:
    """An uncompressed file whose first line is a whole JSON object: JSON Lines. Blocking
    I/O (the first line may be long): call it off the event loop."""
    with open_regular_file(path) as handle:
        head = handle.read(4)
        if head.startswith((GZIP_MAGIC, ZIP_MAGIC)):
            return False
        handle.seek(0)
        first = handle.readline(64 * 1024 * 1024).strip()
    if not first.startswith(b"{"):
        return False
    try:
        return isinstance(orjson.loads(first), dict)
    except orjson.JSONDecodeError:
        return False


class LineRange(io.RawIOBase):
    """The bytes of the lines that start in [start, end) of an open binary file."""

    def __init__(self, handle: BinaryIO, start: int, end: int) -> None:
        super().__init__()
        self._handle = handle
        self._end = end
        self._pending = b""
        if start > 0:
            handle.seek(start - 1)
            handle.readline()  # the rest of the line that started before `start`
        else:
            handle.seek(0)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            if self._handle.tell() >= self._end:
                return 0
            line = self._handle.readline()
            if not line:
                return 0
            self._pending = line
        size = min(len(buffer), len(self._pending))
        memoryview(buffer).cast("B")[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def open_range(handle: BinaryIO, start: int, end: int) -> BinaryIO:
    return io.BufferedReader(LineRange(handle, start, end), buffer_size=1 << 20)
