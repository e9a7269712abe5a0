"""Format knowledge only: detect a publication's format and stream typed items out of it.
No SQL, no session, no queue: what needs stored state (merging OCDS releases, skipping
documents stored before) is handed on as data for the application layer."""

from src.readers.items import (
    PendingRelease,
    ReadItem,
    SourceItem,
    UnmappedDocument,
    UnreadItem,
    UnreadLine,
)
from src.readers.limits import ReadLimits
from src.readers.ocds import map_document
from src.readers.ocds_merge import merge_releases
from src.readers.registry import (
    FORMATS,
    SourceReading,
    UnknownFormatError,
    detect_format,
    map_publication,
    read_source,
)

__all__ = [
    "FORMATS",
    "PendingRelease",
    "ReadItem",
    "ReadLimits",
    "SourceItem",
    "SourceReading",
    "UnknownFormatError",
    "UnmappedDocument",
    "UnreadItem",
    "UnreadLine",
    "detect_format",
    "map_document",
    "map_publication",
    "merge_releases",
    "read_source",
]
