"""Helpers shared by the format readers."""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from src.domain.tender.schemas import RejectedRecord, TenderRecord

ROME = ZoneInfo("Europe/Rome")
_CHUNK = 64 * 1024
_WHITESPACE = b" \t\r\n"

ReadItem = TenderRecord | RejectedRecord
ReadStream = Iterator[ReadItem]

# Standard (7 digits + 3 hex), SmartCIG (V-Z + 9 hex), new format from 2023 (A-U + 9 hex).
_CIG = re.compile(r"[0-9]{7}[0-9A-F]{3}|[V-Z][0-9A-F]{9}|[A-U][0-9A-F]{9}")


class InvalidCig(ValueError):  # noqa: N818 - a name the readers share
    pass


def normalize_cig(value: object) -> str:
    """Trimmed, uppercased CIG, checked against the three formats ANAC issues."""
    if not isinstance(value, str):
        raise InvalidCig(f"CIG must be text, got {type(value).__name__}")
    cig = value.strip().upper()
    if _CIG.fullmatch(cig) is None:
        raise InvalidCig(
            f"invalid CIG {value!r}: expected 10 characters, 7 digits + 3 hex (standard), "
            "V-Z + 9 hex (SmartCIG) or A-U + 9 hex"
        )
    return cig


def parse_timestamp(value: object, *, default_tz: ZoneInfo = ROME) -> datetime | None:
    """An ISO date or date-time; a value without a zone is local time of `default_tz`.
    Empty means empty (None); anything unparseable raises ValueError."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"date must be text, got {type(value).__name__}")
    text = value.strip()
    if not text:
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(text[:10]), time())
        except ValueError:
            raise ValueError(f"invalid date {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_tz)
    return parsed


def parse_amount(value: object) -> Decimal | None:
    """A number or numeric text ("1234.5", "1.234,50" as Italian sources write it)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"invalid amount {value!r}")
    if isinstance(value, int | float | Decimal):
        amount = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip().replace("€", "").replace(" ", "")
        if not text:
            return None
        if "," in text and "." in text:
            text = text.replace(".", "").replace(",", ".")
        elif "," in text:
            text = text.replace(",", ".")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"invalid amount {value!r}") from None
    else:
        raise ValueError(f"invalid amount {value!r}")
    if not amount.is_finite() or abs(amount) >= Decimal("1e16"):
        raise ValueError(f"amount out of range: {value!r}")
    return amount


def validation_problems(error: ValidationError) -> str:
    """A pydantic error as one line a user can act on: `field: message; field: message`."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}" for e in error.errors()
    )


def clean_text(value: object) -> str | None:
    """Text without NUL characters (PostgreSQL refuses them) and surrounding space."""
    if value is None:
        return None
    text = str(value).replace("\x00", "").strip()
    return text or None


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
    """Counts the bytes read through it and, given a limit, refuses to go past it."""

    def __init__(self, stream: BinaryIO, limit: int | None = None, message: str = "") -> None:
        super().__init__()
        self._stream = stream
        self._limit = limit
        self._message = message
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.read(len(view))
        self.position += len(data)
        if self._limit is not None and self.position > self._limit:
            raise SizeLimitExceededError(self._message or f"more than {self._limit} bytes")
        view[: len(data)] = data
        return len(data)
