"""Byte streams, below every format: peeking, magic bytes, counting and limiting what is
read, inflating gzip under the decompression limit, ending a stream where its bytes break
(keeping every byte before the break), and transcoding to UTF-8."""

from __future__ import annotations

import codecs
import io
import lzma
import os
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, cast

_CHUNK = 64 * 1024
_WHITESPACE = b" \t\r\n"
# A broken stream's last line is held back until it is whole; a longer one is handed on.
_LONGEST_HELD_LINE = 1 << 20
_MEMBER_PIECE = 8 * 1024
# What reading compressed or archived bytes raises when they are broken: truncated (EOFError,
# tarfile.ReadError), corrupt (zlib.error, LZMAError, bz2's and gzip's OSError) or with a bad
# checksum (zipfile.BadZipFile). A decompression bomb (SizeLimitExceededError) is none of them.
_BREAKS = (EOFError, OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError)

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


DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024**3


@dataclass
class DecompressionBudget:
    """What one source may inflate to, in all: every byte out of every decompressor reading
    it (its own gzip, an archive's deflated, bzip2 or lzma members, a gzip inside them) is
    charged to the one budget of the source, so a bomb stops wherever it hides."""

    limit: int = DEFAULT_MAX_DECOMPRESSED_BYTES
    used: int = 0

    def charge(self, size: int, name: str) -> None:
        """Count `size` more inflated bytes of `name`; refuse them past the limit."""
        self.used += size
        if self.used > self.limit:
            raise SizeLimitExceededError(
                f"{name} decompresses to more than {self.limit} bytes (MAX_DECOMPRESSED_BYTES); "
                "refusing it as a possible decompression bomb"
            )


def maybe_gunzip(stream: BinaryIO, budget: DecompressionBudget, name: str) -> BinaryIO:
    """The stream, inflated if it is gzip, its inflated bytes charged to `budget` (a gzip bomb
    stops there, whether it is the source itself or a member of an archive). Broken gzip data
    ends the stream where it breaks (see `EndsAtBreak`)."""
    if head(stream, 2) != GZIP_MAGIC:
        return stream
    return _buffered(_Gunzip(stream, name, budget))


def until_break(
    stream: BinaryIO,
    name: str,
    *,
    budget: DecompressionBudget | None = None,
    cause: BinaryIO | None = None,
) -> BinaryIO:
    """`stream` (an archive member) read until it ends or breaks (see `EndsAtBreak`); what
    comes out of it is charged to `budget` when given (a compressed member). `cause` is the
    stream the member is read from, whose break explains the member's."""
    return _buffered(_UntilBreak(stream, name, budget=budget, cause=cause))


def failure_of(stream: BinaryIO) -> str | None:
    """Why `stream` (from `maybe_gunzip` or `until_break`) ended before its end, or None."""
    raw = stream.raw if isinstance(stream, io.BufferedReader) else stream
    return raw.broken if isinstance(raw, EndsAtBreak) else None


def _buffered(raw: EndsAtBreak) -> BinaryIO:
    return cast(BinaryIO, io.BufferedReader(raw, buffer_size=1 << 20))


class EndsAtBreak(io.RawIOBase):
    """Bytes from `_piece()` until they end or break (truncated, corrupt, a bad checksum). At
    a break the stream ends, and `broken` says why; every byte before the break comes out,
    except an incomplete last line, which is dropped so that no reader takes a cut record
    for a whole one. The break is never raised from `readinto`: a buffered reader above
    would lose the bytes it had read in the same call. Each piece is charged to `budget`."""

    def __init__(
        self, name: str, budget: DecompressionBudget | None, cause: BinaryIO | None
    ) -> None:
        super().__init__()
        self.name = name
        self.broken: str | None = None
        self._budget, self._cause = budget, cause
        self._ready = memoryview(b"")
        self._held = b""  # the last line, until its end comes
        self._read = 0
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._ready and not self._ended:
            self._pull()
        view = memoryview(buffer).cast("B")
        size = min(len(view), len(self._ready))
        view[:size] = self._ready[:size]
        self._ready = self._ready[size:]
        return size

    def _piece(self) -> bytes:
        raise NotImplementedError

    def _pull(self) -> None:
        try:
            piece = self._piece()
        except _BREAKS as error:
            self._break(error)
            return
        if not piece:
            self._ready, self._held, self._ended = memoryview(self._held), b"", True
            return
        if self._budget is not None:
            self._budget.charge(len(piece), self.name)
        self._read += len(piece)
        data = self._held + piece if self._held else piece
        cut = len(data) if len(data) > _LONGEST_HELD_LINE else data.rfind(b"\n") + 1
        self._ready, self._held = memoryview(data)[:cut], data[cut:]

    def _break(self, error: BaseException) -> None:
        cause = None if self._cause is None else failure_of(self._cause)
        reason = cause or f"{self.name} breaks after {self._read} bytes: {error}"
        self.broken, self._held, self._ended = reason, b"", True


class _UntilBreak(EndsAtBreak):
    """A stream that raises where its bytes break (an archive member)."""

    def __init__(
        self,
        stream: BinaryIO,
        name: str,
        *,
        budget: DecompressionBudget | None,
        cause: BinaryIO | None,
    ) -> None:
        super().__init__(name, budget, cause)
        self._stream = stream

    def _piece(self) -> bytes:
        # One small read below (read1): a break loses the bytes of the read it happens in.
        if isinstance(self._stream, io.BufferedIOBase):
            return self._stream.read1(_MEMBER_PIECE)
        return self._stream.read(_MEMBER_PIECE)


class _Gunzip(EndsAtBreak):
    """gzip inflated with zlib, member after member (as `gzip -d`), zero padding skipped.
    Bytes after the last member that are not gzip are ignored, as `gzip -d` does, and noted
    in `broken`; what a truncated or corrupt member gave before its break comes out."""

    def __init__(self, stream: BinaryIO, name: str, budget: DecompressionBudget) -> None:
        super().__init__(name, budget, cause=stream)
        self._stream = stream
        self._input = b""
        self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)

    def _piece(self) -> bytes:
        while True:
            if self._inflater.eof and not self._next_member():
                return b""
            if not self._input:
                self._input = self._stream.read(_CHUNK)
                if not self._input:
                    raise EOFError("the gzip data ends before its end marker (truncated)")
            inflater = self._inflater
            data = inflater.decompress(self._input, _CHUNK)
            self._input = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
            if data:
                return data

    def _next_member(self) -> bool:
        """After a member: whether another follows (False at the end, or at bytes that are
        not gzip, which are ignored and noted)."""
        rest = self._input.lstrip(b"\0")
        while len(rest) < 2 and (more := self._stream.read(_CHUNK)):
            rest = (rest + more).lstrip(b"\0")
        if not rest:
            return False
        if rest[:2] != GZIP_MAGIC:
            self.broken = (
                f"{self.name}: the bytes after the end of its gzip data are not gzip; they "
                "are ignored (as gzip -d does)"
            )
            return False
        self._input, self._inflater = rest, zlib.decompressobj(zlib.MAX_WBITS | 16)
        return True


def content_decoded(
    stream: BinaryIO, encodings: tuple[str, ...], budget: DecompressionBudget, name: str
) -> BinaryIO:
    """An HTTP body with its Content-Encoding undone (gzip; applied in order, undone in
    reverse), each inflated byte charged to `budget` like any other decompression."""
    for _ in reversed(encodings):
        stream = _buffered(_Gunzip(stream, name, budget))
    return stream


class SourceEncodingError(ValueError):
    """The source's bytes are not in the expected encoding."""


class Utf8Transcoder(io.RawIOBase):
    """Decodes `encoding` strictly (locating any bad byte exactly), drops a leading BOM and
    hands out UTF-8 bytes, chunk by chunk."""

    def __init__(self, stream: BinaryIO, encoding: str) -> None:
        super().__init__()
        self._stream = stream
        self._encoding = codecs.lookup(encoding).name
        self._decoder = codecs.getincrementaldecoder(self._encoding)("strict")
        self._buffer = bytearray()
        self._offset = 0  # bytes read before the current chunk
        self._newlines = 0  # b"\n" read before the current chunk
        self._started = False
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._buffer and not self._eof:
            self._fill()
        size = min(len(buffer), len(self._buffer))
        memoryview(buffer).cast("B")[:size] = self._buffer[:size]
        del self._buffer[:size]
        return size

    def first_byte(self) -> bytes:
        """The first non-space byte, without consuming anything (b"" when empty)."""
        while not self._buffer.lstrip(_WHITESPACE) and not self._eof:
            self._fill()
        return bytes(self._buffer.lstrip(_WHITESPACE)[:1])

    def _fill(self) -> None:
        chunk = self._stream.read(_CHUNK)
        self._eof = not chunk
        try:
            text = self._decoder.decode(chunk, self._eof)
        except UnicodeDecodeError as error:
            raise self._error(error, chunk) from None
        self._offset += len(chunk)
        self._newlines += chunk.count(b"\n")
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        self._buffer += text.encode("utf-8")

    def _error(self, error: UnicodeDecodeError, chunk: bytes) -> SourceEncodingError:
        data = error.object
        pending = len(data) - len(chunk) if data.endswith(chunk) else 0  # decoder-held bytes
        offset = self._offset - pending + error.start
        line = 1 + self._newlines - data[:pending].count(b"\n") + data[: error.start].count(b"\n")
        bad = f"0x{data[error.start]:02x}" if error.start < len(data) else "sequence"
        hint = "ANAC publishes UTF-8 — re-encode the file or " if self._encoding == "utf-8" else ""
        return SourceEncodingError(
            f"source is not {self._encoding} (invalid byte {bad} at line {line}, byte offset "
            f'{offset}: {error.reason}); {hint}pass the right encoding (e.g. encoding="cp1252")'
        )


class SizeLimitExceededError(RuntimeError):
    """A stream went past the number of bytes it may have (a decompression bomb)."""


class CountingReader(io.RawIOBase):
    """Counts the bytes read through it (`position`): where a reader is in its source.
    Decompressed bytes are charged to a `DecompressionBudget` where they are inflated."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.read(len(view))
        self.position += len(data)
        view[: len(data)] = data
        return len(data)


@dataclass(frozen=True)
class ReadPosition:
    """How far the readers are in an open file, as bytes of `total`: the file's offset
    (ahead of the parser by what the buffers above hold), less `start` (a chunk's first
    byte), plus `before` (the pages read before this one). Any thread may ask; asking costs
    one `lseek`, no read. `fd` is a duplicate of the file's descriptor (it shares the
    offset), open while `watch` lasts, so a reader that closes its stream at its end does
    not take the position with it."""

    fd: int
    size: int
    start: int = 0
    before: int = 0

    @classmethod
    @contextmanager
    def watch(cls, handle: BinaryIO, size: int, start: int = 0) -> Iterator[ReadPosition]:
        fd = os.dup(handle.fileno())
        try:
            yield cls(fd, size, start)
        finally:
            os.close(fd)

    @property
    def total(self) -> int:
        return self.before + self.size

    def after(self, before: int) -> ReadPosition:
        """The same file, read after `before` bytes of earlier pages."""
        return ReadPosition(self.fd, self.size, self.start, before)

    def bytes_read(self) -> int:
        try:
            offset = os.lseek(self.fd, 0, os.SEEK_CUR)
        except OSError:
            return self.before
        return self.before + min(max(offset - self.start, 0), self.size)
