"""Byte streams, below every format: peeking, magic bytes, counting and limiting what is
read, inflating gzip under the decompression limit, and transcoding to UTF-8."""

from __future__ import annotations

import codecs
import gzip
import io
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, cast

_CHUNK = 64 * 1024
_WHITESPACE = b" \t\r\n"

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


def charged(stream: BinaryIO, budget: DecompressionBudget, name: str) -> BinaryIO:
    """The inflated `stream`, buffered, every byte read from it charged to `budget`."""
    counted = CountingReader(stream, budget, name)
    return cast(BinaryIO, io.BufferedReader(counted, buffer_size=1 << 20))


def maybe_gunzip(stream: BinaryIO, budget: DecompressionBudget, name: str) -> BinaryIO:
    """The stream, inflated if it is gzip, its inflated bytes charged to `budget` (a gzip bomb
    stops there, whether it is the source itself or a member of an archive)."""
    if head(stream, 2) != GZIP_MAGIC:
        return stream
    return charged(cast(BinaryIO, gzip.GzipFile(fileobj=stream, mode="rb")), budget, name)


def content_decoded(
    stream: BinaryIO, encodings: tuple[str, ...], budget: DecompressionBudget, name: str
) -> BinaryIO:
    """An HTTP body with its Content-Encoding undone (gzip; applied in order, undone in
    reverse), each inflated byte charged to `budget` like any other decompression."""
    for _ in reversed(encodings):
        stream = charged(cast(BinaryIO, gzip.GzipFile(fileobj=stream, mode="rb")), budget, name)
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
    """Counts the bytes read through it and, given a budget, charges them to it (which refuses
    to go past its limit)."""

    def __init__(
        self, stream: BinaryIO, budget: DecompressionBudget | None = None, name: str = "source"
    ) -> None:
        super().__init__()
        self._stream = stream
        self._budget = budget
        self._name = name
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.read(len(view))
        self.position += len(data)
        if self._budget is not None:
            self._budget.charge(len(data), self._name)
        view[: len(data)] = data
        return len(data)
