"""Which reader reads which format; detection of the format from a document's first bytes;
archives read member by member. `read_source` is the one entry point for a whole source."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from src.domain.formats import Format
from src.domain.tender.schemas import RejectedRecord, TenderRecord
from src.infra.streams import DecompressionBudget, Utf8Transcoder, failure_of, head
from src.readers.anac_cig import map_stored, read_cig_csv, read_cig_json
from src.readers.anac_pvl import map_notice, read_pvl
from src.readers.containers import BrokenArchiveError, Document, iter_documents
from src.readers.csv_records import DEFAULT_MAX_RECORD_LINES
from src.readers.eforms import notice_bytes, read_eforms
from src.readers.items import ReadItem, SourceItem
from src.readers.limits import ReadLimits
from src.readers.ocds import PackageInfo, read_ocds
from src.readers.ocds_mapping import map_release

FORMATS = tuple(member.value for member in Format)
_UTF8 = ("utf-8", "utf8", "utf_8")
# Keys that only an ANAC PVL notice has, and those of ANAC's detail API response.
_PVL_KEYS = (b'"idAvviso"', b'"idAppalto"', b'"codiceScheda"')
_DETAIL_API_KEYS = (b'"cache_key"', b'"colnames"', b'"stazione_appaltante"', b'"bando"')


class UnknownFormatError(ValueError):
    """The format cannot be told from the bytes, or is not one we read."""


def detect_format(stream: BinaryIO, name: str = "") -> Format:
    """The format of a document, from its first non-blank bytes (and its name's extension)."""
    start = head(stream).lstrip(b"\xef\xbb\xbf \t\r\n")
    lowered = start.lower()
    if start[:1] == b"<":
        return Format.EFORMS
    if start[:1] in (b"{", b"["):
        # ANAC's own keys first: a PVL wrapper holds "records" too
        if any(key in start for key in _PVL_KEYS):
            return Format.ANAC_PVL
        if b'"result"' in start and any(key in start for key in _DETAIL_API_KEYS):
            return Format.ANAC_JSON
        if any(key in start for key in (b'"ocid"', b'"releases"', b'"records"', b'"uri"')):
            return Format.OCDS
        if b'"cig"' in lowered or b'"bando"' in lowered:
            return Format.ANAC_JSON
        return Format.OCDS
    first_line = lowered.split(b"\n", 1)[0]
    if b"cig" in first_line and (b";" in first_line or b"," in first_line):
        return Format.ANAC_CSV
    if name.lower().endswith((".xml", ".xml.gz")):
        return Format.EFORMS
    raise UnknownFormatError(
        f"cannot tell the format of {name or 'the source'} from its first bytes "
        f"{start[:40]!r}; pass --format ({', '.join(FORMATS)})"
    )


def _utf8(stream: BinaryIO, encoding: str | None) -> BinaryIO:
    if encoding is None or encoding.lower() in _UTF8:
        return stream
    return cast(BinaryIO, io.BufferedReader(Utf8Transcoder(stream, encoding)))


def read_document(
    format_name: Format,
    stream: BinaryIO,
    *,
    name: str,
    source_url: str | None,
    encoding: str | None = None,
    package: PackageInfo | None = None,
    csv_max_record_lines: int = DEFAULT_MAX_RECORD_LINES,
    limits: ReadLimits | None = None,
) -> Iterator[SourceItem]:
    limits = limits or ReadLimits()
    match format_name:
        case Format.OCDS:
            return read_ocds(
                _utf8(stream, encoding), source_url=source_url, package=package, limits=limits
            )
        case Format.ANAC_CSV:
            return read_cig_csv(
                stream,
                source_url=source_url,
                encoding=encoding or "utf-8",
                max_record_lines=csv_max_record_lines,
            )
        case Format.ANAC_JSON:
            return read_cig_json(
                stream, source_url=source_url, encoding=encoding or "utf-8", limits=limits
            )
        case Format.ANAC_PVL:
            return read_pvl(
                stream, source_url=source_url, encoding=encoding or "utf-8", limits=limits
            )
        case Format.EFORMS:
            return read_eforms(stream, source_url=source_url, position=name)
    raise UnknownFormatError(f"unknown format {format_name!r}; known: {', '.join(FORMATS)}")


class BrokenSourceError(ValueError):
    """The source's bytes broke (truncated, corrupt): what came before the break was read."""


class SourceReading:
    """The items of every document in a source (a member's rejections name the member),
    and, once they are drained, what the reading learned about the source: the next page an
    OCDS package links to (`links.next`).

    A member that breaks or cannot be read (broken bytes, not in the format) costs only
    itself: its items before the break are kept, the break becomes a rejection naming the
    member, and the next member is read. A source that is one document and breaks raises
    `BrokenSourceError` after its items (the pipeline stores it as a rejection); a
    decompression bomb (`SizeLimitExceededError`) stops the whole source."""

    def __init__(
        self,
        stream: BinaryIO,
        name: str,
        *,
        format: Format | None = None,
        source_url: str | None = None,
        encoding: str | None = None,
        budget: DecompressionBudget,
        csv_max_record_lines: int = DEFAULT_MAX_RECORD_LINES,
        limits: ReadLimits | None = None,
    ) -> None:
        self._stream, self._name = stream, name
        self._format, self._source_url, self._encoding = format, source_url, encoding
        self._budget, self._csv_max_record_lines = budget, csv_max_record_lines
        self._limits = limits or ReadLimits()
        self._package = PackageInfo()
        self._reported: set[str] = set()  # breaks already told, by their reason

    @property
    def next_url(self) -> str | None:
        return self._package.next_url

    def __iter__(self) -> Iterator[SourceItem]:
        try:
            for document in iter_documents(self._stream, self._name, self._budget):
                if document.member:
                    yield from self._member(document)
                else:
                    yield from self._whole(document)
        except BrokenArchiveError as error:
            if error.reason not in self._reported:
                raise
        failure = failure_of(self._stream)  # a break between two members of a tar
        if failure is not None and failure not in self._reported:
            raise BrokenSourceError(failure)

    def _items(self, document: Document) -> tuple[Format | None, Iterator[SourceItem]]:
        if not head(document.stream, 1):
            return None, iter(())  # an empty archive member, or a chunk in which no line starts
        detected = self._format or detect_format(document.stream, document.name)
        items = read_document(
            detected,
            document.stream,
            name=document.name,
            source_url=self._source_url,
            encoding=self._encoding,
            package=self._package,
            csv_max_record_lines=self._csv_max_record_lines,
            limits=self._limits,
        )
        return detected, items

    def _whole(self, document: Document) -> Iterator[SourceItem]:
        try:
            yield from self._items(document)[1]
        except ValueError as error:
            failure = document.failure()
            if failure is None:
                raise
            self._reported.add(failure)
            raise BrokenSourceError(failure) from error
        failure = document.failure()
        if failure is not None:
            self._reported.add(failure)
            raise BrokenSourceError(failure)

    def _member(self, document: Document) -> Iterator[SourceItem]:
        produced = 0
        failure: str | None = None
        try:
            detected, items = self._items(document)
            for item in items:
                produced += 1
                if detected == Format.EFORMS:
                    pass  # the member's name is in the notice's positions already
                elif isinstance(item, RejectedRecord):
                    item = dataclasses.replace(item, position=f"{document.name}: {item.position}")
                elif isinstance(item, TenderRecord):  # its field warnings name the member
                    item.position = (
                        document.name
                        if item.position is None
                        else f"{document.name}: {item.position}"
                    )
                yield item
        except ValueError as error:
            failure = document.failure() or str(error)
        else:
            failure = document.failure()
        if failure is None:
            return
        self._reported.add(failure)
        what = "the rest of this member" if produced else "this member"
        yield RejectedRecord(
            reason=f"{what} could not be read: {failure}",
            position=f"{document.name}: after record {produced}",
        )


def read_source(
    stream: BinaryIO,
    name: str,
    *,
    format: Format | None = None,
    source_url: str | None = None,
    encoding: str | None = None,
    budget: DecompressionBudget | None = None,
    csv_max_record_lines: int = DEFAULT_MAX_RECORD_LINES,
    limits: ReadLimits | None = None,
) -> SourceReading:
    """Read a whole source: iterate the result for its items, then ask it for `next_url`.
    What the source's archive members inflate to is charged to `budget` (the source's own,
    from `open_source`; a fresh default one when not given). A quoted CSV field may span at
    most `csv_max_record_lines` lines (CSV_MAX_RECORD_LINES); `limits` bound what one JSON
    document or item may cost (MAX_JSON_DEPTH, MAX_OBJECT_BYTES)."""
    return SourceReading(
        stream,
        name,
        format=format,
        source_url=source_url,
        encoding=encoding,
        budget=budget or DecompressionBudget(),
        csv_max_record_lines=csv_max_record_lines,
        limits=limits,
    )


def map_publication(format_name: str, raw: Any, *, source_url: str | None) -> list[ReadItem]:
    """A stored raw publication mapped again with the current mapping (`tenders reprocess`)."""
    position = "stored publication"
    if format_name == Format.OCDS:
        return list(map_release(raw, source_url=source_url, position=position))
    if format_name == Format.EFORMS:
        xml = raw.get("xml") if isinstance(raw, dict) else None
        if not isinstance(xml, str):
            return [RejectedRecord.of("stored eForms publication has no XML", position, raw)]
        return list(
            read_eforms(io.BytesIO(notice_bytes(xml)), source_url=source_url, position=position)
        )
    if format_name in (Format.ANAC_CSV, Format.ANAC_JSON):
        return [map_stored(raw, format_name, source_url=source_url)]
    if format_name == Format.ANAC_PVL:
        return map_notice(raw, position, source_url)
    raise UnknownFormatError(f"cannot reprocess format {format_name!r}")
