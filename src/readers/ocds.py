"""OCDS releases and records to what the application layer needs: compiled and versioned
releases mapped to tenders at once, plain releases handed on to be merged, whole JSON lines
handed on unmapped (mapped only when their bytes are new). The walk over the bytes is
`ocds_walk`; one record is read once: its embedded releases, merged, else its compiledRelease,
else its versionedRelease."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

from src.domain.tender import plain_record
from src.domain.tender import schemas as tender_schemas
from src.domain.tender.schemas import DocumentDigest, RejectedRecord
from src.readers import (
    anac_compiled,
    common,
    fields,
    items,
    nuts,
    ocds_awards,
    ocds_mapping,
    ocds_parties,
    ocds_values,
    ocds_versioned,
    zones,
)
from src.readers.anac_compiled import map_anac_compiled
from src.readers.items import (
    PendingRelease,
    ReadItem,
    SourceItem,
    UnmappedDocument,
    UnreadItem,
    UnreadLine,
)
from src.readers.limits import ReadLimits
from src.readers.ocds_mapping import map_release, source_of
from src.readers.ocds_versioned import is_versioned
from src.readers.ocds_walk import (
    OcdsFormatError,
    OcdsObject,
    PackageInfo,
    is_linked_release,
    iter_ocds_objects,
    line_objects,
)

__all__ = ["OcdsFormatError", "PackageInfo", "map_document", "read_ocds"]


def read_ocds(
    stream: BinaryIO,
    *,
    source_url: str | None = None,
    package: PackageInfo | None = None,
    limits: ReadLimits | None = None,
) -> Iterator[SourceItem]:
    """Compiled releases (a record's, or a publisher's own, e.g. ANAC's) map to TenderRecords
    at once; plain releases are handed on as PendingRelease, to be merged with the other
    releases of their ocid; compiled releases read as whole JSON lines are handed on unmapped
    (`UnmappedDocument`, mapped by `map_document` unless their bytes were stored before)."""
    limits = limits or ReadLimits()
    for item in iter_ocds_objects(stream, package, limits=limits):
        if item.kind == "unread":
            yield _unread(item, source_url, limits)
        else:
            yield from _items_of(item, source_url)


def _items_of(
    item: OcdsObject, source_url: str | None, document_digest: str | None = None
) -> Iterator[UnreadItem]:
    """`document_digest`: the digest of the line's document, when it was made already."""
    if item.kind == "rejected":
        yield RejectedRecord.of(item.data["reason"], item.position, item.data["snippet"])
    elif item.kind == "record":
        yield from _record_items(item, source_url)
    elif item.kind == "release" and not _is_whole_state(item.data):
        yield _pending(item.data, item.position, item.package, source_url)
    elif item.line_digest is not None and isinstance(item.data.get("ocid"), str):
        yield _unmapped(item, source_url, document_digest)
    else:
        yield from _map_compiled(item.data, source_url, item.position, None)


def _unread(item: OcdsObject, source_url: str | None, limits: ReadLimits) -> UnreadLine:
    """A JSON line handed on unread; read, it gives what reading it now would have."""
    line, position, package, digest = item.data, item.position, item.package, item.line_digest
    document_digest = _document_digest(digest or "")

    def read() -> list[UnreadItem]:
        objects = line_objects(line, position, package, limits, digest=digest)
        return [
            read_item
            for obj in objects
            for read_item in _items_of(obj, source_url, document_digest)
        ]

    return UnreadLine(document_digest, position, read)


# What the mapping of a compiled release depends on: a change to any of these files changes
# every digest, so a corrected mapping reaches stored tenders on the next ingest. Every module
# `map_release` and `map_anac_compiled` import, directly or not, is here
# (tests/readers/test_places.py checks it).
MAPPING_MODULES: tuple[ModuleType, ...] = (
    anac_compiled,
    ocds_mapping,
    ocds_awards,
    ocds_parties,
    ocds_values,
    ocds_versioned,
    nuts,
    fields,
    items,
    zones,
    common,
    tender_schemas,
    plain_record,
)
_MAPPING_VERSION = hashlib.sha256(
    b"".join(Path(module.__file__ or "").read_bytes() for module in MAPPING_MODULES)
).hexdigest()


def _unmapped(
    item: OcdsObject, source_url: str | None, document_digest: str | None
) -> UnmappedDocument:
    """A compiled release read as one JSON line: mapped only if its bytes are new."""
    ocid = str(item.data["ocid"]).strip()
    digest = document_digest or _document_digest(item.line_digest or "")
    return UnmappedDocument(
        DocumentDigest(source_of(ocid), "ocds", ocid, digest),
        item.data,
        item.position,
        source_url,
        item.line_json,
    )


def _document_digest(line_digest: str) -> str:
    """A JSON line's document digest: its bytes' and the mapping's."""
    return hashlib.sha256(f"{_MAPPING_VERSION}:{line_digest}".encode()).hexdigest()


def map_document(document: UnmappedDocument) -> list[ReadItem]:
    """The tenders of a document handed on unmapped."""
    return _map_compiled(document.data, document.source_url, document.position, document.data_json)


def _map_compiled(
    release: Any, source_url: str | None, position: str | None, raw_json: str | None
) -> list[ReadItem]:
    """A compiled release's tenders: ANAC's of the usual shape in one pass, the others (and
    those) as `map_release` maps them."""
    fast = map_anac_compiled(release, source_url=source_url, position=position, raw_json=raw_json)
    if fast is not None:
        return list(fast)
    return list(map_release(release, source_url=source_url, position=position, raw_json=raw_json))


def _is_whole_state(release: Any) -> bool:
    """A compiled release (ANAC publishes only these) or a versioned one is a whole state:
    no merge needed."""
    tags = release.get("tag") if isinstance(release, dict) else None
    return (isinstance(tags, list) and "compiled" in tags) or is_versioned(release)


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
    """A record is read once: its embedded releases, to be merged (with the ones stored
    before); when it has none, its compiledRelease, else its versionedRelease. Releases that
    are only linked by URL are not fetched: a record of nothing else is reported."""
    record = item.data if isinstance(item.data, dict) else {}
    releases = record.get("releases")
    embedded = [
        r
        for r in (releases if isinstance(releases, list) else [])
        if isinstance(r, dict) and not is_linked_release(r)
    ]
    if embedded:
        for release in embedded:
            yield _pending(release, item.position, item.package, source_url)
        return
    for key in ("compiledRelease", "versionedRelease"):
        if isinstance(record.get(key), dict):
            yield from map_release(record[key], source_url=source_url, position=item.position)
            return
    ocid = record.get("ocid")
    yield RejectedRecord.of(
        f"record {ocid or '?'} has neither embedded releases nor a compiled or versioned "
        "release (releases linked by URL only are not fetched)",
        item.position,
        item.data,
    )
