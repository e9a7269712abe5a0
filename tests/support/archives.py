"""Archives the tests generate: zips and tar.gz of ANAC-like OCDS JSON Lines, with a
decompression bomb as their last member, or broken (a bad CRC, truncated)."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

from tests.support.sources import anac_source

# An OCDS package that never ends: the reader streams over the blanks in constant memory, so
# only the decompression limit stops it (else it ends as truncated JSON).
BOMB = b'{"releases": [' + b" " * (16 * 1024 * 1024)


def anac_lines(tmp_path: Path, procedures: int, *, first: int = 0) -> bytes:
    """ANAC-like compiled releases as JSON Lines (two lots, ~1.3 KB, a procedure)."""
    path = tmp_path / f"lines-{first}-{procedures}.jsonl"
    anac_source(path, procedures, first=first)
    return path.read_bytes()


def anac_cigs(procedures: int, *, first: int = 0) -> set[str]:
    """The CIGs of the lots that `anac_lines` writes."""
    return {
        f"{1000000 + i:07d}{lot:03X}" for i in range(first, first + procedures) for lot in (0, 1)
    }


def write_zip(
    path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    """A zip of `members`, each compressed with `compression`, except that a .gz member is
    stored (the gzip is its compression)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            stored = name.endswith(".gz")
            archive.writestr(name, data, zipfile.ZIP_STORED if stored else compression)
    return path


def write_tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    """A gzip-compressed tar of `members`, in the order given."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9)


def complete_lines(data: bytes) -> int:
    """How many whole lines (ended by a newline) `data` holds."""
    return data.count(b"\n")


def readable_gzip(truncated: bytes) -> bytes:
    """What a truncated gzip inflates to up to its break (as `zcat` prints before it fails)."""
    return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(truncated)


def with_bad_crc(path: Path, member: str) -> Path:
    """The zip at `path` with `member`'s CRC-32 wrong, in its local header and in the
    central directory (its bytes untouched), as a damaged download has it."""
    with zipfile.ZipFile(path) as archive:
        crc = archive.getinfo(member).CRC
    data = path.read_bytes()
    good, bad = struct.pack("<I", crc), struct.pack("<I", crc ^ 0xFFFFFFFF)
    assert data.count(good) == 2, "the CRC must appear in the two headers only"
    path.write_bytes(data.replace(good, bad))
    return path
