"""Which reader reads which format, and detection of the format from a source's first bytes."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from src.infra.readers.common import ReadStream
from src.infra.readers.ocds import read_ocds

Reader = Callable[..., ReadStream]

READERS: dict[str, Reader] = {"ocds": read_ocds}


class UnknownFormatError(ValueError):
    pass


def detect_format(stream: BinaryIO, name: str = "") -> str:
    """The format of a seekable stream, from its name and its first non-blank bytes."""
    head = stream.read(4096)
    stream.seek(0)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        return "ocds"
    raise UnknownFormatError(
        f"cannot tell the format of {name or 'the source'} from its first bytes "
        f"{head[:40]!r}; pass --format ({', '.join(sorted(READERS))})"
    )


def reader_for(format_name: str) -> Reader:
    try:
        return READERS[format_name]
    except KeyError:
        raise UnknownFormatError(
            f"unknown format {format_name!r}; known: {', '.join(sorted(READERS))}"
        ) from None
