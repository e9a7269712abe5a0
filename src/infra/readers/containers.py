"""Archives: a zip (ANAC's monthly files) or a tar (TED's daily packages, usually .tar.gz)
is read member by member, in name order, each as its own document; anything else is one
document. Streams are peeked, never rewound, so a gzip or tar stream is read once."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from collections.abc import Iterator
from typing import BinaryIO, Protocol, cast

from src.infra.readers.common import CountingReader

ZIP_MAGIC = b"PK\x03\x04"
GZIP_MAGIC = b"\x1f\x8b"


class Peekable(Protocol):
    def peek(self, size: int = ..., /) -> bytes: ...
    def read(self, size: int = ..., /) -> bytes: ...


def head(stream: BinaryIO, size: int = 4096) -> bytes:
    """The first bytes of a stream without consuming them: peeked, or read and rewound."""
    if hasattr(stream, "peek"):
        return cast(Peekable, stream).peek(size)[:size]
    position = stream.tell()
    data = stream.read(size)
    stream.seek(position)
    return data


def _skipped(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base or base.startswith(".") or name.startswith("__MACOSX/")


DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024**3


def maybe_gunzip(
    stream: BinaryIO, limit: int = DEFAULT_MAX_DECOMPRESSED_BYTES, name: str = "source"
) -> BinaryIO:
    """The stream, inflated if it is gzip, refusing to inflate past `limit` bytes (a gzip bomb
    stops there, whether it is the source itself or a member of an archive)."""
    if head(stream, 2) != GZIP_MAGIC:
        return stream
    inflated = cast(BinaryIO, gzip.GzipFile(fileobj=stream, mode="rb"))
    limited = CountingReader(
        inflated,
        limit,
        f"{name} decompresses to more than {limit} bytes (MAX_DECOMPRESSED_BYTES); "
        "refusing it as a possible decompression bomb",
    )
    return cast(BinaryIO, io.BufferedReader(limited, buffer_size=1 << 20))


def iter_documents(stream: BinaryIO, name: str) -> Iterator[tuple[str, BinaryIO]]:
    """(name, stream) of every document: the members of an archive, or the stream itself."""
    first = head(stream, 512)
    if first.startswith(ZIP_MAGIC):
        with zipfile.ZipFile(stream) as archive:
            for info in sorted(archive.infolist(), key=lambda i: i.filename):
                if info.is_dir() or _skipped(info.filename):
                    continue
                with archive.open(info) as member:
                    yield (
                        f"{name}!{info.filename}",
                        maybe_gunzip(cast(BinaryIO, member), name=info.filename),
                    )
        return
    if len(first) >= 262 and first[257:262] == b"ustar":
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member_info in archive:
                if not member_info.isfile() or _skipped(member_info.name):
                    continue
                extracted = archive.extractfile(member_info)
                if extracted is not None:
                    yield (
                        f"{name}!{member_info.name}",
                        maybe_gunzip(cast(BinaryIO, extracted), name=member_info.name),
                    )
        return
    yield name, stream
