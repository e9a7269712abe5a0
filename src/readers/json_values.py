"""JSON values out of parser events, one at a time and in bounded memory: the bytes pass the
guard (nesting, numbers) on their way to ijson, and a value is dropped unbuilt as soon as it
passes the size limit or holds a guard's marker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal, cast

import ijson

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
