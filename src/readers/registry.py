"""Which reader reads which format; detection of the format from a document's first bytes;
archives read member by member."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO, cast

from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.tender.schemas import RejectedRecord
from src.infra.streams import DecompressionBudget, Utf8Transcoder, head
from src.readers.anac_cig import map_stored, read_cig_csv, read_cig_json
from src.readers.common import ReadItem
from src.readers.containers import iter_documents
from src.readers.eforms import read_eforms
from src.readers.ocds import PackageInfo, read_ocds
from src.readers.ocds_mapping import map_release
from src.readers.ocds_releases import PendingRelease, resolve_releases

FORMATS = ("ocds", "anac_csv", "anac_json", "eforms")
_UTF8 = ("utf-8", "utf8", "utf_8")


class UnknownFormatError(ValueError):
    pass


def detect_format(stream: BinaryIO, name: str = "") -> str:
    """The format of a document, from its first non-blank bytes (and its name's extension)."""
    start = head(stream).lstrip(b"\xef\xbb\xbf \t\r\n")
    lowered = start.lower()
    if start[:1] == b"<":
        return "eforms"
    if start[:1] in (b"{", b"["):
        if any(key in start for key in (b'"ocid"', b'"releases"', b'"records"', b'"uri"')):
            return "ocds"
        if b'"cig"' in lowered or b'"bando"' in lowered:
            return "anac_json"
        return "ocds"
    first_line = lowered.split(b"\n", 1)[0]
    if b"cig" in first_line and (b";" in first_line or b"," in first_line):
        return "anac_csv"
    if name.lower().endswith((".xml", ".xml.gz")):
        return "eforms"
    raise UnknownFormatError(
        f"cannot tell the format of {name or 'the source'} from its first bytes "
        f"{start[:40]!r}; pass --format ({', '.join(FORMATS)})"
    )


def _utf8(stream: BinaryIO, encoding: str | None) -> BinaryIO:
    if encoding is None or encoding.lower() in _UTF8:
        return stream
    return cast(BinaryIO, io.BufferedReader(Utf8Transcoder(stream, encoding)))


def read_document(
    format_name: str,
    stream: BinaryIO,
    *,
    name: str,
    source_url: str | None,
    encoding: str | None = None,
    package: PackageInfo | None = None,
) -> Iterator[object]:
    if format_name == "ocds":
        return read_ocds(_utf8(stream, encoding), source_url=source_url, package=package)
    if format_name == "anac_csv":
        return read_cig_csv(stream, source_url=source_url, encoding=encoding or "utf-8")
    if format_name == "anac_json":
        return read_cig_json(stream, source_url=source_url, encoding=encoding or "utf-8")
    if format_name == "eforms":
        return read_eforms(stream, source_url=source_url, position=name)
    raise UnknownFormatError(f"unknown format {format_name!r}; known: {', '.join(FORMATS)}")


def read_source(
    stream: BinaryIO,
    name: str,
    *,
    format_name: str | None = None,
    source_url: str | None = None,
    encoding: str | None = None,
    package: PackageInfo | None = None,
    budget: DecompressionBudget | None = None,
) -> Iterator[object]:
    """Every item of every document in the source; a member's rejections name the member.
    What the source's members inflate to is charged to `budget` (the source's own)."""
    if format_name is not None and format_name not in FORMATS:
        raise UnknownFormatError(f"unknown format {format_name!r}; known: {', '.join(FORMATS)}")
    if budget is None:
        budget = DecompressionBudget()
    for member_name, member in iter_documents(stream, name, budget):
        if not head(member, 1):
            continue  # an empty archive member, or a chunk in which no line starts
        detected = format_name or detect_format(member, member_name)
        items = read_document(
            detected,
            member,
            name=member_name,
            source_url=source_url,
            encoding=encoding,
            package=package,
        )
        if member_name == name:
            yield from items
            continue
        for item in items:
            if isinstance(item, RejectedRecord) and detected != "eforms":
                item = dataclasses.replace(item, position=f"{member_name}: {item.position}")
            yield item


async def resolve_pending(session: AsyncSession, items: Sequence[object]) -> list[ReadItem]:
    """What readers handed on unfinished, finished with the database's state."""
    releases = [item for item in items if isinstance(item, PendingRelease)]
    if len(releases) != len(items):
        unknown = next(i for i in items if not isinstance(i, PendingRelease))
        raise TypeError(f"a reader produced {type(unknown).__name__}, which nothing resolves")
    return await resolve_releases(session, releases)


def map_publication(format_name: str, raw: Any, *, source_url: str | None) -> list[ReadItem]:
    """A stored raw publication mapped again with the current mapping (`tenders reprocess`)."""
    position = "stored publication"
    if format_name == "ocds":
        return list(map_release(raw, source_url=source_url, position=position))
    if format_name == "eforms":
        xml = raw.get("xml") if isinstance(raw, dict) else None
        if not isinstance(xml, str):
            return [RejectedRecord.of("stored eForms publication has no XML", position, raw)]
        return list(
            read_eforms(io.BytesIO(xml.encode("utf-8")), source_url=source_url, position=position)
        )
    if format_name in ("anac_csv", "anac_json"):
        return [map_stored(raw, format_name, source_url=source_url)]
    raise UnknownFormatError(f"cannot reprocess format {format_name!r}")
