"""CSV records that a stray quote cannot swallow.

A quote that is opened and never closed (or closed rows later) makes the csv module read
every following line into one field, so one bad row would cost all the rows after it. A
record that spans several lines is taken as one only when it is sane: it spans at most
`max_lines` lines, it can be read, and none of its continuation lines is a record by itself.
Otherwise the quote is judged unclosed: the record's first line is rejected alone and
reading starts again at the next line, so every line ends as a row or a rejection."""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

DEFAULT_MAX_RECORD_LINES = 100


@dataclass(frozen=True, slots=True)
class CsvRow:
    """A record's cells and the line it starts on; or, with `problem`, a line or record
    that is rejected (`text` is its raw text)."""

    line: int
    cells: list[str]
    text: str
    problem: str = ""


class _TooManyLines(Exception):  # noqa: N818 - control flow inside this module
    pass


class CsvRecords:
    """The records of `text` after its header, each with the line it starts on.
    `is_record(cells)` tells whether a line, read alone, is a whole record (used to find
    where a runaway quoted field swallowed records)."""

    def __init__(
        self,
        text: TextIO,
        delimiter: str,
        *,
        is_record: Callable[[list[str]], bool],
        max_lines: int = DEFAULT_MAX_RECORD_LINES,
        first_line: int = 2,
    ) -> None:
        self._text, self._delimiter = text, delimiter
        self._is_record, self._max_lines = is_record, max_lines
        self._next_number = first_line
        self._pending: deque[tuple[int, str]] = deque()  # lines to read again, in order
        self._lines: list[tuple[int, str]] = []  # the lines of the record being read

    def __iter__(self) -> Iterator[CsvRow]:
        reader = self._reader()
        while True:
            self._lines = []
            try:
                cells = next(reader)
            except StopIteration:
                return
            except _TooManyLines:
                yield self._resync(f"runs over more than {self._max_lines} lines")
                reader = self._reader()
                continue
            except csv.Error as error:  # e.g. a field over csv.field_size_limit()
                if len(self._lines) > 1:
                    yield self._resync(f"cannot be read ({error})")
                    reader = self._reader()
                else:
                    yield self._row([], problem=f"unreadable CSV row: {error}")
                continue
            swallowed = self._swallowed_record()
            if swallowed is None:
                yield self._row(cells)
                continue
            yield self._resync(f"is not closed before line {swallowed}, which is a record")
            reader = self._reader()

    def _reader(self) -> Iterator[list[str]]:
        return csv.reader(self._feed(), delimiter=self._delimiter)

    def _feed(self) -> Iterator[str]:
        """Physical lines, those to read again first; too many for one record stop it."""
        while True:
            if self._pending:
                number, line = self._pending.popleft()
            else:
                line = self._text.readline()
                if not line:
                    return
                number, self._next_number = self._next_number, self._next_number + 1
            self._lines.append((number, line))
            if len(self._lines) > self._max_lines:
                raise _TooManyLines
            yield line

    def _row(self, cells: list[str], problem: str = "") -> CsvRow:
        line = self._lines[0][0] if self._lines else self._next_number
        return CsvRow(line, cells, "".join(text for _, text in self._lines), problem)

    def _swallowed_record(self) -> int | None:
        """The first continuation line of a multi-line record that is a record by itself."""
        for number, line in self._lines[1:]:
            cells = next(csv.reader([line], delimiter=self._delimiter), [])
            if self._is_record(cells):
                return number
        return None

    def _resync(self, what: str) -> CsvRow:
        """Reject the record's first line alone, and read its other lines again."""
        (number, first), rest = self._lines[0], self._lines[1:]
        self._pending.extendleft(reversed(rest))
        problem = (
            f"a quoted field opened on line {number} {what}: the quote is taken as unclosed, "
            f"line {number} is rejected and reading goes on at line {number + 1} "
            "(CSV_MAX_RECORD_LINES is the most lines a quoted field may span)"
        )
        return CsvRow(number, [], first, problem)
