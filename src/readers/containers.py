"""Archives: a zip (ANAC's monthly files) or a tar (TED's daily packages, usually .tar.gz)
is read member by member, in name order, each as its own document; anything else is one
document. Streams are peeked, never rewound, so a gzip or tar stream is read once."""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from typing import BinaryIO, cast

from src.infra.streams import ZIP_MAGIC, DecompressionBudget, charged, head, maybe_gunzip


def _skipped(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base or base.startswith(".") or name.startswith("__MACOSX/")


def iter_documents(
    stream: BinaryIO, name: str, budget: DecompressionBudget
) -> Iterator[tuple[str, BinaryIO]]:
    """(name, stream) of every document: the members of an archive, or the stream itself.
    What a member inflates to is charged to the source's `budget`: a compressed zip member's
    bytes, a gzip member's inflated bytes (a tar's members are not compressed themselves: a
    .tar.gz was charged as it was gunzipped, as the source)."""
    first = head(stream, 512)
    if first.startswith(ZIP_MAGIC):
        yield from _zip_members(stream, name, budget)
        return
    if len(first) >= 262 and first[257:262] == b"ustar":
        yield from _tar_members(stream, name, budget)
        return
    yield name, stream


def _zip_members(
    stream: BinaryIO, name: str, budget: DecompressionBudget
) -> Iterator[tuple[str, BinaryIO]]:
    with zipfile.ZipFile(stream) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir() or _skipped(info.filename):
                continue
            where = f"{name} (at member {info.filename})"
            with archive.open(info) as opened:
                member = cast(BinaryIO, opened)
                if info.compress_type != zipfile.ZIP_STORED:  # deflate, bzip2, lzma
                    member = charged(member, budget, where)
                yield f"{name}!{info.filename}", maybe_gunzip(member, budget, where)


def _tar_members(
    stream: BinaryIO, name: str, budget: DecompressionBudget
) -> Iterator[tuple[str, BinaryIO]]:
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for info in archive:
            if not info.isfile() or _skipped(info.name):
                continue
            extracted = archive.extractfile(info)
            if extracted is not None:
                where = f"{name} (at member {info.name})"
                yield (
                    f"{name}!{info.name}",
                    maybe_gunzip(cast(BinaryIO, extracted), budget, where),
                )
