"""JSON values out of parser events, one at a time and in bounded memory: the bytes pass the
guard (nesting, numbers) on their way to ijson, and a value is dropped unbuilt as soon as it
passes the size limit or holds a guard's marker."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal, cast

import ijson
import orjson

from src.infra.streams import CountingReader
from src.readers.json_guard import MARKERS, JsonGuard
from src.readers.limits import ReadLimits

Problem = Literal["size", "depth", "number"]
Events = Iterator[tuple[str, str, Any]]

_DEPTH_CHANGE = {"start_map": 1, "start_array": 1, "end_map": -1, "end_array": -1}


@dataclass
class ValueBuilder:
    """A value being built from parser events. `started_at` and the positions fed are bytes
    read from the source; `excluded` counts those that are not its own (a package's releases,
    handed on one by one) or not built (members left out)."""

    started_at: int
    builder: Any = field(default_factory=ijson.ObjectBuilder)
    depth: int = 0
    problem: Problem | None = None
    excluded: int = 0
    _skipped_from: int | None = None  # where the value of a member left out began
    _skipped_depth: int = 0

    def feed(self, event: str, value: Any, position: int, limit: int) -> bool:
        """Feed one event; True when the value is complete."""
        self.depth += _DEPTH_CHANGE.get(event, 0)
        if self._skipped_from is not None:
            if self.depth == self._skipped_depth:  # the value left out is complete
                self.excluded += position - self._skipped_from
                self._skipped_from = None
            return False
        if self.problem is None:
            if position - self.started_at - self.excluded > limit:
                self.problem, self.builder = "size", None
            elif event == "string" and value in MARKERS:
                self.problem, self.builder = MARKERS[value], None
            else:
                self.builder.event(event, value)
        return self.depth == 0

    def leave_out(self, position: int) -> None:
        """Leave out the member whose key is the event at hand (instead of feeding it): its
        value is neither built nor counted against the limit."""
        self._skipped_from, self._skipped_depth = position, self.depth

    @property
    def value(self) -> Any:
        return None if self.problem is not None else self.builder.value


def json_events(
    stream: BinaryIO, limits: ReadLimits, *, use_float: bool
) -> tuple[Events, CountingReader]:
    """ijson's events for every value in the stream (one, or several one after the other),
    and the reader that counts the source's bytes read so far."""
    counted = CountingReader(stream)
    guarded = JsonGuard(cast(BinaryIO, counted), limits.max_json_depth)
    return ijson.parse(guarded, multiple_values=True, use_float=use_float), counted


@dataclass(frozen=True, slots=True)
class JsonValue:
    index: int  # from 1
    data: Any  # None when not built
    problem: Problem | None


def iter_json_values(
    stream: BinaryIO, limits: ReadLimits, *, use_float: bool
) -> Iterator[JsonValue]:
    """Each item of a top-level array, or each top-level value (one object, JSON Lines,
    several values one after the other)."""
    events, counted = json_events(stream, limits, use_float=use_float)
    building: ValueBuilder | None = None
    index = before = 0
    for prefix, event, value in events:
        position = counted.position
        if building is None:
            if prefix == "" and event in ("start_array", "end_array"):
                before = position
                continue
            building = ValueBuilder(before)
        if building.feed(event, value, position, limits.max_object_bytes):
            index += 1
            yield JsonValue(index, building.value, building.problem)
            building = None
        before = position


PEEK_BYTES = 1 << 20  # what is looked at of a source's start to tell JSON Lines


def looks_like_json_lines(head: bytes) -> bool:
    """A first line that is a whole JSON object by itself: JSON Lines, read line by line
    (far faster than the event walk, and one broken line costs only itself). So is a first
    line that orjson refuses only for a number out of range or its depth."""
    text = head.lstrip()
    end = text.find(b"\n")
    if not text.startswith(b"{") or end < 0:
        return False
    try:
        return isinstance(orjson.loads(text[:end]), dict)
    except orjson.JSONDecodeError as error:
        return any(word in str(error) for word in ("infinity", "depth", "ecursion"))


def numbered_lines(stream: BinaryIO, limits: ReadLimits) -> Iterator[tuple[int, bytes | None]]:
    """The lines of a JSON Lines stream that are not blank, each with its number in the file
    (counted from `limits.hints.first_line`: a chunk's are the file's). A line larger than
    `max_object_bytes` is read past in pieces, never whole, and given as None."""
    number = limits.hints.first_line - 1
    while line := stream.readline(limits.max_object_bytes + 1):
        number += 1
        if len(line) > limits.max_object_bytes and not line.endswith(b"\n"):
            while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            yield number, None
        elif not line.isspace():  # blank (isspace copies nothing; readline never gives b"")
            yield number, line


def without_nul(value: Any) -> Any:
    """A parsed JSON value without NUL characters in its text (PostgreSQL refuses them)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    return [without_nul(v) for v in value] if isinstance(value, list) else value


@dataclass(frozen=True, slots=True)
class BrokenLine:
    """A JSON line that could not be read (not JSON, or too large): why, and its start."""

    reason: str
    text: bytes


def positioned_values(
    stream: io.RawIOBase, limits: ReadLimits, *, use_float: bool
) -> Iterator[tuple[str, JsonValue | BrokenLine]]:
    """The source's JSON values with their positions. JSON Lines (told from the first line,
    or `limits.hints.json_lines`) line by line: "line N" ("line N item K" for a line of
    several values), a broken line given as a `BrokenLine` and the lines after it read.
    Anything else as one stream of values, "item N", which a break ends (ijson.JSONError)."""
    buffered = io.BufferedReader(stream, PEEK_BYTES)
    if not (limits.hints.json_lines or looks_like_json_lines(buffered.peek(PEEK_BYTES))):
        for value in iter_json_values(cast(BinaryIO, buffered), limits, use_float=use_float):
            yield f"item {value.index}", value
        return
    for number, line in numbered_lines(cast(BinaryIO, buffered), limits):
        position = f"line {number}"
        if line is None:
            yield position, BrokenLine(f"{position} {limits.reason('size')}", b"")
            continue
        try:
            values = list(iter_json_values(io.BytesIO(line), limits, use_float=use_float))
        except ijson.JSONError as error:
            reason = f"{position} is not valid JSON: {' '.join(str(error).split())[:200]}"
            yield position, BrokenLine(reason, line[:_BROKEN_TEXT])
            continue
        for value in values:  # one, unless the line holds several
            yield (position if len(values) == 1 else f"{position} item {value.index}"), value


_BROKEN_TEXT = 2000  # what is kept of a broken line's text, to show in its rejection
