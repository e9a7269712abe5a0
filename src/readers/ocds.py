"""Streams OCDS releases out of any of the shapes publishers use, in constant memory:
a release package, a record package, a bare record, a JSON array of either, several
packages concatenated, JSON Lines of releases or compiled releases.

The walk is one pass of ijson events: package metadata is kept, each release or record is
built on its own and handed on, so a 1 GB package never sits in memory at once."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

import ijson
import orjson

from src.domain.tender import schemas as tender_schemas
from src.domain.tender.schemas import DocumentDigest, RejectedRecord
from src.infra.streams import CountingReader
from src.readers import common, ocds_mapping
from src.readers.items import PendingRelease, ReadItem, SourceItem, UnmappedDocument
from src.readers.ocds_mapping import map_release, source_of

# Where releases and records sit, for a top-level value or an item of a top-level array.
_STREAMED = {
    "releases.item": "release",
    "records.item": "record",
    "item.releases.item": "release",
    "item.records.item": "record",
}
_TOP = {"", "item"}
_VERSION = {"version", "item.version"}


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
    kind: str  # release | record | compiled | oversized | invalid
    data: dict[str, Any]
    position: str
    package: PackageInfo = field(default_factory=PackageInfo)
    # For a whole JSON line: the SHA-256 of its bytes (see DeferredDocument).
    line_digest: str | None = None


_PEEK_BYTES = 1 << 20
MAX_OBJECT_BYTES = 64 * 1024**2  # one release, record or JSON line; a package may be any size


@dataclass
class _Building:
    """An object being built from parser events; dropped (not built) once it is too large."""

    prefix: str
    started_at: int
    builder: Any = field(default_factory=ijson.ObjectBuilder)
    depth: int = 0
    oversized: bool = False

    def feed(self, event: str, value: Any, position: int, limit: int) -> bool:
        """Feed one event; True when the object is complete."""
        if not self.oversized:
            if position - self.started_at > limit:
                self.oversized, self.builder = True, None
            else:
                self.builder.event(event, value)
        self.depth += _depth_change(event)
        return self.depth == 0


def iter_ocds_objects(
    stream: BinaryIO,
    package: PackageInfo | None = None,
    *,
    max_object_bytes: int = MAX_OBJECT_BYTES,
) -> Iterator[OcdsObject]:
    """Every release or record in the stream, with its position ("release 3", "value 7").
    An object larger than `max_object_bytes` is not built: it comes out as kind "oversized"."""
    package = package or PackageInfo()
    buffered = io.BufferedReader(stream, _PEEK_BYTES)  # type: ignore[type-var]
    if _looks_like_json_lines(buffered.peek(_PEEK_BYTES)):
        yield from _iter_json_lines(buffered, package, max_object_bytes)
        return
    try:
        yield from _walk_events(cast(BinaryIO, buffered), package, max_object_bytes)
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


def _walk_events(
    buffered: BinaryIO, package: PackageInfo, max_object_bytes: int
) -> Iterator[OcdsObject]:
    """The event walk of a package (or several, or an array of them)."""
    counted = CountingReader(buffered)
    item: _Building | None = None  # a release or record inside a package
    top: _Building | None = None  # a top-level value (a package, or a JSON line)
    top_has_items = version_seen = False
    counters = {"release": 0, "record": 0, "value": 0}
    events = ijson.parse(io.BufferedReader(counted, 1 << 16), multiple_values=True, use_float=True)
    for prefix, event, value in events:
        if item is not None:
            if item.feed(event, value, counted.position, max_object_bytes):
                yield _finished(item, _STREAMED[item.prefix], counters, package)
                item = None
            continue
        if prefix in _STREAMED and event not in ("end_array", "map_key", "end_map"):
            item = _Building(prefix, counted.position)
            top_has_items = True
            if item.feed(event, value, counted.position, max_object_bytes):
                yield _finished(item, _STREAMED[prefix], counters, package)
                item = None
            continue
        if top is None and prefix in _TOP and event == "start_map":
            top, top_has_items = _Building(prefix, counted.position), False
            package.version, version_seen = "1.1", False
        if top is None:
            if prefix == "" and event not in ("start_array", "end_array"):
                raise OcdsFormatError(f"expected a JSON object or array, got {event}")
            continue
        if top.depth == 1 and prefix in _VERSION and event == "string":
            package.version, version_seen = value, True
        if top.depth == 1 and event == "map_key" and value in ("releases", "records"):
            top_has_items = True
            if not version_seen:  # a package without a version is OCDS 1.0
                package.version = "1.0"
        # A package's own fields are small; its items were handed on above.
        limit = max_object_bytes if not top_has_items else 1 << 62
        if top.feed(event, value, counted.position, limit):
            counters["value"] += 1
            if top.oversized:
                yield OcdsObject("oversized", {}, f"value {counters['value']}", package)
            else:
                yield from _top_level(
                    top.builder.value, top_has_items, f"value {counters['value']}", package
                )
            top = None


def _looks_like_json_lines(head: bytes) -> bool:
    """A first line that is a whole JSON object by itself: JSON Lines, read line by line
    (far faster than the event walk, and one broken line costs only itself)."""
    text = head.lstrip()
    end = text.find(b"\n")
    if not text.startswith(b"{") or end < 0:
        return False
    try:
        return isinstance(orjson.loads(text[:end]), dict)
    except orjson.JSONDecodeError:
        return False


def _iter_json_lines(
    stream: BinaryIO, package: PackageInfo, max_object_bytes: int
) -> Iterator[OcdsObject]:
    number = 0
    while line := stream.readline(max_object_bytes + 1):
        number += 1
        position = f"line {number}"
        if len(line) > max_object_bytes and not line.endswith(b"\n"):
            while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            yield OcdsObject("oversized", {}, position, package)
            continue
        if not line.strip():
            continue
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            if number == 1:
                raise OcdsFormatError(f"{position} is not valid JSON: {error}") from error
            yield OcdsObject("invalid", {"error": str(error)}, position, package)
            continue
        if isinstance(document, dict) and ("releases" in document or "records" in document):
            yield from _package_line(document, position, package)
        else:
            for item in _top_level(document, False, position, package):
                if item.data is document:
                    item.line_digest = hashlib.sha256(line).hexdigest()
                yield item


def _package_line(
    document: dict[str, Any], position: str, package: PackageInfo
) -> Iterator[OcdsObject]:
    """A whole package on one line (already in memory): its releases or records, in order."""
    version = document.get("version")
    package.version = version if isinstance(version, str) else "1.0"
    for key, kind in (("releases", "release"), ("records", "record")):
        items = document.get(key)
        for index, item in enumerate(items if isinstance(items, list) else [], 1):
            yield OcdsObject(kind, item, f"{position} {kind} {index}", package)
    yield from _top_level(document, True, position, package)


def _finished(
    item: _Building, kind: str, counters: dict[str, int], package: PackageInfo
) -> OcdsObject:
    counters[kind] += 1
    position = f"{kind} {counters[kind]}"
    if item.oversized:
        return OcdsObject("oversized", {}, position, package)
    return OcdsObject(kind, item.builder.value, position, package)


def _depth_change(event: str) -> int:
    if event in ("start_map", "start_array"):
        return 1
    if event in ("end_map", "end_array"):
        return -1
    return 0


def _top_level(
    document: Any, had_items: bool, position: str, package: PackageInfo
) -> Iterator[OcdsObject]:
    """A whole top-level object: a package (metadata only; its items went by already), a
    bare record (its compiledRelease), or a release / compiled release (a JSON line)."""
    if not isinstance(document, dict):
        return
    if had_items:
        links = document.get("links")
        if isinstance(links, dict) and isinstance(links.get("next"), str):
            package.next_url = links["next"]
        publisher = document.get("publisher")
        if isinstance(publisher, dict):
            package.publisher = publisher.get("name")
        if isinstance(document.get("compiledRelease"), dict):
            yield OcdsObject("compiled", document["compiledRelease"], position, package)
        return
    if isinstance(document.get("compiledRelease"), dict):
        yield OcdsObject("compiled", document["compiledRelease"], position, package)
        return
    if "ocid" in document or "tender" in document:
        kind = "compiled" if "compiled" in (document.get("tag") or []) else "release"
        yield OcdsObject(kind, document, position, package)
        return
    raise OcdsFormatError(
        f"{position} is not OCDS: no releases, records or ocid "
        f"(keys: {', '.join(sorted(document)[:8]) or 'none'})"
    )


def read_ocds(
    stream: BinaryIO,
    *,
    source_url: str | None = None,
    package: PackageInfo | None = None,
    max_object_bytes: int = MAX_OBJECT_BYTES,
) -> Iterator[SourceItem]:
    """Compiled releases (a record's, or a publisher's own, e.g. ANAC's) map to TenderRecords
    at once; plain releases are handed on as PendingRelease, to be merged with the other
    releases of their ocid; compiled releases read as whole JSON lines are handed on unmapped
    (`UnmappedDocument`, mapped by `map_document` unless their bytes were stored before)."""
    for item in iter_ocds_objects(stream, package, max_object_bytes=max_object_bytes):
        if item.kind == "oversized":
            yield RejectedRecord(
                reason=f"{item.position} is larger than {max_object_bytes} bytes: not read "
                "(a single publication this size is broken input)",
                position=item.position,
            )
        elif item.kind == "invalid":
            yield RejectedRecord(
                reason=f"{item.position} is not valid JSON: {item.data['error']}",
                position=item.position,
            )
        elif item.kind == "record":
            yield from _record_items(item, source_url)
        elif item.kind == "release" and not _is_compiled(item.data):
            yield _pending(item.data, item.position, item.package, source_url)
        elif item.line_digest is not None and isinstance(item.data.get("ocid"), str):
            yield _unmapped(item, source_url)
        else:
            yield from map_release(item.data, source_url=source_url, position=item.position)


# What the mapping of a compiled release depends on: a change to any of these files changes
# every digest, so a corrected mapping reaches stored tenders on the next ingest.
_MAPPING_VERSION = hashlib.sha256(
    b"".join(
        Path(module.__file__ or "").read_bytes()
        for module in (ocds_mapping, common, tender_schemas)
    )
).hexdigest()


def _unmapped(item: OcdsObject, source_url: str | None) -> UnmappedDocument:
    """A compiled release read as one JSON line: mapped only if its bytes are new."""
    ocid = str(item.data["ocid"]).strip()
    digest = hashlib.sha256(f"{_MAPPING_VERSION}:{item.line_digest}".encode()).hexdigest()
    return UnmappedDocument(
        DocumentDigest(source_of(ocid), "ocds", ocid, digest), item.data, item.position, source_url
    )


def map_document(document: UnmappedDocument) -> list[ReadItem]:
    """The tenders of a document handed on unmapped."""
    return list(
        map_release(document.data, source_url=document.source_url, position=document.position)
    )


def _is_compiled(release: Any) -> bool:
    """A compiled release (ANAC publishes only these) is a whole state: no merge needed."""
    tags = release.get("tag") if isinstance(release, dict) else None
    return isinstance(tags, list) and "compiled" in tags


def _pending(
    release: Any, position: str, package: PackageInfo, source_url: str | None
) -> ReadItem | PendingRelease:
    ocid = release.get("ocid") if isinstance(release, dict) else None
    if not isinstance(ocid, str) or not ocid.strip():
        return RejectedRecord.of("release has no ocid", position, release)
    # A package's version is known only at its end; releases are read before it, so the
    # version field, when it comes first (as publishers write it), is what counts here.
    return PendingRelease(ocid.strip(), release, package.version, position, source_url)


def _record_items(item: OcdsObject, source_url: str | None) -> Iterator[ReadItem | PendingRelease]:
    """A record's compiledRelease when it has one; else its embedded releases, merged.
    Releases that are only linked by URL are not fetched: such a record is reported."""
    record = item.data
    compiled = record.get("compiledRelease") if isinstance(record, dict) else None
    if isinstance(compiled, dict):
        yield from map_release(compiled, source_url=source_url, position=item.position)
        return
    releases = record.get("releases") if isinstance(record, dict) else None
    embedded = [
        r
        for r in releases or []
        if isinstance(r, dict) and ("tender" in r or "date" in r) and "url" not in r
    ]
    if not embedded:
        ocid = record.get("ocid") if isinstance(record, dict) else None
        yield RejectedRecord.of(
            f"record {ocid or '?'} has neither a compiledRelease nor embedded releases "
            "(releases linked by URL only are not fetched)",
            item.position,
            record,
        )
        return
    for release in embedded:
        yield _pending(release, item.position, item.package, source_url)
