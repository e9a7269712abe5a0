"""Archives: a zip (ANAC's monthly files) or a tar (TED's daily packages, usually .tar.gz)
is read member by member, in name order, each as its own document; anything else is one
document. Streams are peeked, never rewound, so a gzip or tar stream is read once."""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from typing import BinaryIO, cast

from src.infra.streams import ZIP_MAGIC, head, maybe_gunzip


def _skipped(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base or base.startswith(".") or name.startswith("__MACOSX/")


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
