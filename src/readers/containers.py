"""Archives: a zip (ANAC's monthly files) or a tar (TED's daily packages, usually .tar.gz)
is read member by member, in name order, each as its own document; anything else is one
document. Streams are peeked, never rewound, so a gzip or tar stream is read once.

A member whose bytes break (a bad CRC, truncated or corrupt data) ends where it breaks and
says why (`Document.failure`), so the next member is still read; an archive whose own
structure breaks ends there (`BrokenArchiveError`)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from src.infra.streams import (
    ZIP_MAGIC,
    DecompressionBudget,
    failure_of,
    head,
    maybe_gunzip,
    until_break,
)

# What opening a zip member raises when it cannot be read: a broken local header, a method
# zipfile does not know, an encrypted member.
_UNOPENABLE = (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError)


class BrokenArchiveError(ValueError):
    """The archive itself cannot be read on (a broken directory or header): the members
    after the break are lost. `reason` is what broke it."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Document:
    """One document of a source: an archive member, or the source itself."""

    name: str
    stream: BinaryIO
    member: bool = False
    layers: tuple[BinaryIO, ...] = ()  # the streams it is read through, that may break
    error: str | None = None  # why it could not be opened at all

    def failure(self) -> str | None:
        """Why the document's bytes ended before their end, or None."""
        if self.error is not None:
            return self.error
        return next(filter(None, map(failure_of, (*self.layers, self.stream))), None)


def _skipped(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base or base.startswith(".") or name.startswith("__MACOSX/")


def iter_documents(stream: BinaryIO, name: str, budget: DecompressionBudget) -> Iterator[Document]:
    """Every document: the members of an archive, or the stream itself. What a member
    inflates to is charged to the source's `budget`: a compressed zip member's bytes, a gzip
    member's inflated bytes (a tar's members are not compressed themselves: a .tar.gz was
    charged as it was gunzipped, as the source)."""
    first = head(stream, 512)
    if first.startswith(ZIP_MAGIC):
        yield from _zip_members(stream, name, budget)
        return
    if len(first) >= 262 and first[257:262] == b"ustar":
        yield from _tar_members(stream, name, budget)
        return
    yield Document(name, stream)


def _zip_members(stream: BinaryIO, name: str, budget: DecompressionBudget) -> Iterator[Document]:
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        reason = f"{name} is not a readable zip: {error}"
        raise BrokenArchiveError(reason, reason) from error
    with archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir() or _skipped(info.filename):
                continue
            member_name = f"{name}!{info.filename}"
            where = f"{name} (at member {info.filename})"
            try:
                opened = cast(BinaryIO, archive.open(info))
            except _UNOPENABLE as error:
                failure = f"{where} cannot be opened: {error}"
                yield Document(member_name, io.BytesIO(), member=True, error=failure)
                continue
            with opened:
                compressed = info.compress_type != zipfile.ZIP_STORED  # deflate, bzip2, lzma
                member = until_break(opened, where, budget=budget if compressed else None)
                inflated = maybe_gunzip(member, budget, where)
                yield Document(member_name, inflated, member=True, layers=(member,))


def _tar_members(stream: BinaryIO, name: str, budget: DecompressionBudget) -> Iterator[Document]:
    last = "its first member"
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for info in archive:
                if not info.isfile() or _skipped(info.name):
                    continue
                extracted = _tar_member(archive, info)
                if extracted is not None:
                    where = f"{name} (at member {info.name})"
                    member = until_break(extracted, where, cause=stream)
                    inflated = maybe_gunzip(member, budget, where)
                    yield Document(f"{name}!{info.name}", inflated, member=True, layers=(member,))
                last = f"member {info.name}"
    except (tarfile.TarError, EOFError, OSError) as error:
        reason = failure_of(stream) or f"{name}: {error}"
        raise BrokenArchiveError(f"{name} cannot be read after {last}: {reason}", reason) from error


def _tar_member(archive: tarfile.TarFile, info: tarfile.TarInfo) -> BinaryIO | None:
    """A regular member's bytes, read straight from the archive's stream: where that stream
    breaks, the member gives every byte before the break (extractfile's reader raises
    instead, losing the last read's bytes). A sparse member is left to extractfile."""
    if info.sparse is not None or archive.fileobj is None:
        return cast(BinaryIO | None, archive.extractfile(info))
    source = cast(BinaryIO, archive.fileobj)
    source.seek(info.offset_data)
    return cast(BinaryIO, io.BufferedReader(_Bounded(source, info.size)))


class _Bounded(io.RawIOBase):
    """The next `size` bytes of `stream`; fewer (the stream broke) end with EOFError."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        super().__init__()
        self._stream, self._left = stream, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.read(min(len(view), self._left))
        if not data and self._left:
            raise EOFError(f"the member ends {self._left} bytes before its size (truncated)")
        self._left -= len(data)
        view[: len(data)] = data
        return len(data)
