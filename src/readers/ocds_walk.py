"""Streams OCDS releases and records out of any of the shapes publishers use, in bounded
memory: a release package, a record package, a bare record, a JSON array of either, several
packages concatenated, JSON Lines of releases or compiled releases.

The walk is one pass of ijson events: package metadata is kept, each release or record is
built on its own and handed on, so a 1 GB package never sits in memory at once. Every item
comes out: an object, or a rejection saying why it was not read (too large, nested too deep,
a number out of range, not an object)."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

import ijson
import orjson

from src.readers.json_guard import line_too_deep
from src.readers.json_values import (
    PEEK_BYTES,
    ValueBuilder,
    json_events,
    looks_like_json_lines,
    numbered_lines,
)
from src.readers.limits import ReadLimits

# Where releases and records sit, for a top-level value or an item of a top-level array.
_STREAMED = {
    "releases.item": "release",
    "records.item": "record",
    "item.releases.item": "release",
    "item.records.item": "record",
}
_VERSION = {"version", "item.version"}
_ITEMS = ("releases", "records")
# What is read of a package's (or a bare record's) own fields once it is known to be one.
_STATES = ("compiledRelease", "versionedRelease")  # a record's, read when it has no releases
_KEPT = {*_ITEMS, *_STATES, "version", "links", "publisher", "ocid"}
_BOM = b"\xef\xbb\xbf"


def is_linked_release(release: Any) -> bool:
    """A record's release given only by its URL (and date, tag): there is nothing in it to
    merge, and it is not fetched."""
    return isinstance(release, dict) and "url" in release and "ocid" not in release


class OcdsFormatError(ValueError):
    """The bytes are not JSON, or not OCDS at all."""


@dataclass
class PackageInfo:
    """What a package says about itself (for `links.next` pagination and provenance)."""

    next_url: str | None = None
    publisher: str | None = None
    version: str = "1.1"


@dataclass
class OcdsObject:
    # release | record | compiled | rejected ({"reason": ..., "snippet": ...}) | unread
    # (a JSON line's bytes, not parsed: see ReadHints)
    kind: str
    data: Any
    position: str
    package: PackageInfo = field(default_factory=PackageInfo)
    # For a whole JSON line: the SHA-256 of its bytes (see UnmappedDocument), and the line as
    # text when PostgreSQL takes it as written (`storable_json`): stored without writing
    # the parsed object out again.
    line_digest: str | None = None
    line_json: str | None = None


def _rejected(reason: str, position: str, package: PackageInfo, snippet: Any = "") -> OcdsObject:
    return OcdsObject("rejected", {"reason": reason, "snippet": snippet}, position, package)


def iter_ocds_objects(
    stream: BinaryIO, package: PackageInfo | None = None, *, limits: ReadLimits | None = None
) -> Iterator[OcdsObject]:
    """Every release or record in the stream, with its position ("release 3", "line 7"), and
    every item that could not be read as a rejection."""
    package = package or PackageInfo()
    limits = limits or ReadLimits()
    buffered = io.BufferedReader(stream, PEEK_BYTES)  # type: ignore[type-var]
    if buffered.peek(len(_BOM)).startswith(_BOM):
        buffered.read(len(_BOM))  # a byte-order mark is not JSON, but some publishers write it
    if limits.hints.json_lines or looks_like_json_lines(buffered.peek(PEEK_BYTES)):
        yield from _iter_json_lines(buffered, package, limits)
        return
    try:
        yield from _Walk(package, limits).objects(cast(BinaryIO, buffered))
    except ijson.IncompleteJSONError as error:
        text = str(error.args[0] if error.args else error)
        if "UTF8" in text or "UTF-8" in text:
            raise OcdsFormatError(
                f"source is not UTF-8 ({' '.join(text.split())[:160]}); "
                "OCDS JSON must be UTF-8: re-encode it, or pass --encoding if you know it"
            ) from error
        raise OcdsFormatError(f"truncated or invalid JSON: {error}") from error
    except UnicodeDecodeError as error:
        raise OcdsFormatError(f"source is not UTF-8: {error}") from error


class _Walk:
    """The event walk of a package (or several, or an array of them, or of bare records)."""

    def __init__(self, package: PackageInfo, limits: ReadLimits) -> None:
        self.package, self.limits = package, limits
        self.item: ValueBuilder | None = None  # a release or record inside a package
        self.item_kind = "release"
        self.top: ValueBuilder | None = None  # a top-level value (a package, a bare record)
        self.top_has_items = self.version_seen = False
        self.counters = {"release": 0, "record": 0, "value": 0}
        # The releases of the top-level value at hand: a record with embedded releases is
        # read from them, and its compiledRelease is left unread (one record, read once).
        self.embedded = self.linked = 0

    def objects(self, stream: BinaryIO) -> Iterator[OcdsObject]:
        events, counted = json_events(stream, self.limits, use_float=True)
        limit = self.limits.max_object_bytes
        before = 0  # bytes read at the previous event: a read between two belongs to the next
        for prefix, event, value in events:
            position = counted.position
            if self.item is None and prefix in _STREAMED and event not in ("end_array", "map_key"):
                self.item, self.item_kind = ValueBuilder(before), _STREAMED[prefix]
                self.top_has_items = True
            if self.item is not None:
                if self.item.feed(event, value, position, limit):
                    done = self._item_done(position)
                    if done is not None:
                        yield done
            else:
                yield from self._top_event(prefix, event, value, position, before)
            before = position

    def _item_done(self, position: int) -> OcdsObject | None:
        item, kind = cast(ValueBuilder, self.item), self.item_kind
        self.item = None
        if self.top is not None:  # the package's own size leaves its items out
            self.top.excluded += position - item.started_at
        self.counters[kind] += 1
        where = f"{kind} {self.counters[kind]}"
        if item.problem is not None:
            return _rejected(f"{where} {self.limits.reason(item.problem)}", where, self.package)
        if kind == "release" and is_linked_release(item.value):
            self.linked += 1
            return None
        self.embedded += kind == "release"
        return OcdsObject(kind, item.value, where, self.package)

    def _top_event(
        self, prefix: str, event: str, value: Any, position: int, before: int
    ) -> Iterator[OcdsObject]:
        if self.top is None:
            if prefix == "" and event in ("start_array", "end_array"):
                return  # a top-level array: its items are the values
            if prefix == "" and event != "start_map":
                raise OcdsFormatError(f"expected a JSON object or array, got {event}")
            self.top, self.top_has_items = ValueBuilder(before), False
            self.embedded = self.linked = 0
            self.package.version, self.version_seen = "1.1", False
        top = self.top
        if top.depth == 1 and prefix in _VERSION and event == "string":
            self.package.version, self.version_seen = value, True
        if top.depth == 1 and event == "map_key":
            if value in _ITEMS:
                self.top_has_items = True
                if not self.version_seen:  # a package without a version is OCDS 1.0
                    self.package.version = "1.0"
            elif self.top_has_items and (
                value not in _KEPT or (value in _STATES and self.embedded)
            ):
                top.leave_out(before)  # a package's field nothing reads (extensions, ...)
                return
        if top.feed(event, value, position, self.limits.max_object_bytes):
            self.top = None
            self.counters["value"] += 1
            where = f"value {self.counters['value']}"
            if top.problem is not None:
                reason = f"{where} {self.limits.reason(top.problem)}"
                yield _rejected(reason, where, self.package)
                return
            first = self.counters["value"] == 1
            releases = (self.embedded, self.linked) if self.top_has_items else None
            yield from _top_level(top.value, releases, where, self.package, first)


def _iter_json_lines(
    stream: BinaryIO, package: PackageInfo, limits: ReadLimits
) -> Iterator[OcdsObject]:
    first = limits.hints.first_line  # a chunk's lines are numbered as the file's
    for number, line in numbered_lines(stream, limits):
        position = f"line {number}"
        if line is None:
            yield _rejected(f"{position} {limits.reason('size')}", position, package)
        elif number > first and limits.hints.lines_unread and one_item_line(line):
            digest = hashlib.sha256(line).hexdigest()
            yield OcdsObject("unread", line, position, package, line_digest=digest)
        else:
            yield from line_objects(line, position, package, limits, first=number == first)


# A JSON line none of whose bytes spell these keys is one release, record or rejection: it
# gives exactly one item, read now or later (the run's checkpoint counts items).
# One pass over the line (each key looked for alone would be a pass of its own).
_SEVERAL_ITEMS = re.compile(rb'"(?:releases|records|compiledRelease|versionedRelease)"')


def one_item_line(line: bytes) -> bool:
    """Whether the JSON line can only give one item (see `_SEVERAL_ITEMS`)."""
    return _SEVERAL_ITEMS.search(line) is None


def storable_json(line: bytes) -> str | None:
    """A JSON text that parsed as UTF-8 JSON, as text a publication is stored as: not with an
    escaped NUL (`\\u0000`, which text columns refuse and `json_serializer` drops). Without
    the whitespace around it (the line's end), as a record's text is kept."""
    return None if b"\\u0000" in line else line.strip().decode()


def line_objects(
    line: bytes,
    position: str,
    package: PackageInfo,
    limits: ReadLimits,
    *,
    first: bool = False,
    digest: str | None = None,
) -> Iterator[OcdsObject]:
    """The objects of one JSON line (`first`: the source's first, which says whether the
    source is OCDS at all; `digest`: its bytes' SHA-256, when known)."""
    if line_too_deep(line, limits.max_json_depth):
        yield _rejected(f"{position} {limits.reason('depth')}", position, package)
        return
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        reason = (
            limits.reason("number") if "infinity" in str(error) else f"is not valid JSON: {error}"
        )
        yield _rejected(f"{position} {reason}", position, package, line)
        return
    if isinstance(document, dict) and any(key in document for key in _ITEMS):
        yield from _package_line(document, position, package)
        return
    for item in _top_level(document, None, position, package, first):
        if item.data is document:
            item.line_digest = digest or hashlib.sha256(line).hexdigest()
            item.line_json = storable_json(line)
        yield item


def _package_line(
    document: dict[str, Any], position: str, package: PackageInfo
) -> Iterator[OcdsObject]:
    """A whole package (or record) on one line (already in memory): its releases or records,
    in order."""
    version = document.get("version")
    package.version = version if isinstance(version, str) else "1.0"
    embedded = linked = 0
    for key, kind in (("releases", "release"), ("records", "record")):
        items = document.get(key)
        for index, item in enumerate(items if isinstance(items, list) else [], 1):
            if kind == "release" and is_linked_release(item):
                linked += 1
                continue
            embedded += kind == "release"
            yield OcdsObject(kind, item, f"{position} {kind} {index}", package)
    yield from _top_level(document, (embedded, linked), position, package, False)


def _kind_of(value: Any) -> str:
    """What a JSON value is, in words."""
    if value is None:
        return "null"
    names = ((dict, "an object"), (list, "an array"), (str, "a string"), (bool, "a boolean"))
    return next((name for kind, name in names if isinstance(value, kind)), "a number")


def _top_level(
    document: Any,
    releases: tuple[int, int] | None,
    position: str,
    package: PackageInfo,
    first: bool,
) -> Iterator[OcdsObject]:
    """A whole top-level value: a package or a record whose items went by already (`releases`:
    how many embedded and linked releases), a bare record of no releases (its compiled or
    versioned release), or a release / compiled release (a JSON line). Anything else is a
    rejection, or, as the first value of a source, a sign the source is not OCDS."""
    if not isinstance(document, dict):
        reason = f"{position} is {_kind_of(document)}, not a JSON object: not read"
        yield _rejected(reason, position, package, document)
        return
    if releases is not None:
        yield from _package(document, position, package, releases)
        return
    for key in _STATES:
        if isinstance(document.get(key), dict):
            yield OcdsObject("compiled", document[key], position, package)
            return
    if "ocid" in document or "tender" in document:
        kind = "compiled" if "compiled" in (document.get("tag") or []) else "release"
        yield OcdsObject(kind, document, position, package)
        return
    reason = (
        f"{position} is not OCDS: no releases, records or ocid "
        f"(keys: {', '.join(sorted(document)[:8]) or 'none'})"
    )
    if first:
        raise OcdsFormatError(reason)
    yield _rejected(reason, position, package, document)


def _package(
    document: dict[str, Any], position: str, package: PackageInfo, releases: tuple[int, int]
) -> Iterator[OcdsObject]:
    """A package's own fields: where the next page is, who published it; `releases` or
    `records` that are not an array are a rejection (nothing in them was read). A record
    whose releases were all linked is read from its compiled (else versioned) release."""
    links = document.get("links")
    if isinstance(links, dict) and isinstance(links.get("next"), str):
        package.next_url = links["next"]
    publisher = document.get("publisher")
    if isinstance(publisher, dict):
        package.publisher = publisher.get("name")
    for key in _ITEMS:
        if key in document and not isinstance(document[key], list):
            reason = f"{position}: its {key} is {_kind_of(document[key])}, not an array: not read"
            yield _rejected(reason, position, package, document[key])
    embedded, linked = releases
    if embedded:
        return  # a record read from its releases
    for key in _STATES:
        if isinstance(document.get(key), dict):
            yield OcdsObject("compiled", document[key], position, package)
            return
    if linked:
        reason = (
            f"{position}: record {document.get('ocid') or '?'} has neither embedded releases "
            "nor a compiled or versioned release (releases linked by URL only are not fetched)"
        )
        yield _rejected(reason, position, package, document.get("releases"))
