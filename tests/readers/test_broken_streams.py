"""Broken bytes cost only what they break: a truncated or corrupt gzip keeps every whole
record before the break, a broken archive member becomes a rejection naming it and the next
member is read, and trailing bytes after a gzip are ignored as `gzip -d` ignores them."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from src.domain.tender.schemas import RejectedRecord
from src.infra.streams import DecompressionBudget, maybe_gunzip
from src.readers import UnmappedDocument
from src.readers.containers import BrokenArchiveError
from src.readers.registry import BrokenSourceError, read_source
from tests.support.archives import (
    anac_lines,
    complete_lines,
    gzipped,
    readable_gzip,
    with_bad_crc,
    write_tar_gz,
    write_zip,
)


def read_all(path: Path) -> tuple[list[str], list[RejectedRecord], Exception | None]:
    """The ocids read (in order), the rejections, and the error that ended the reading."""
    budget = DecompressionBudget()
    found: list[str] = []
    rejected: list[RejectedRecord] = []
    with path.open("rb") as handle:
        try:
            for item in read_source(maybe_gunzip(handle, budget, path.name), path.name):
                if isinstance(item, RejectedRecord):
                    rejected.append(item)
                else:
                    assert isinstance(item, UnmappedDocument), item
                    found.append(item.digest.document_key)
        except (BrokenSourceError, BrokenArchiveError) as error:
            return found, rejected, error
    return found, rejected, None


def ocids(procedures: int, *, first: int = 0) -> list[str]:
    return [f"ocds-hu01ve-{i}" for i in range(first, first + procedures)]


def test_a_truncated_gzip_keeps_every_whole_line_before_the_break(tmp_path: Path) -> None:
    lines = anac_lines(tmp_path, 3000)
    compressed = gzipped(lines)
    truncated = compressed[: len(compressed) * 7 // 10]
    whole = complete_lines(readable_gzip(truncated))
    assert 1000 < whole < 3000
    source = tmp_path / "cut.jsonl.gz"
    source.write_bytes(truncated)
    found, rejected, error = read_all(source)
    assert found == ocids(whole)  # and the cut line is not taken for a record
    assert rejected == []
    assert isinstance(error, BrokenSourceError)
    assert "cut.jsonl.gz breaks after" in str(error) and "truncated" in str(error)


def test_a_corrupt_gzip_keeps_what_came_before_the_damage(tmp_path: Path) -> None:
    compressed = bytearray(gzipped(anac_lines(tmp_path, 3000)))
    middle = len(compressed) // 2
    whole = complete_lines(readable_gzip(bytes(compressed[:middle])))
    compressed[middle : middle + 64] = bytes(64)
    source = tmp_path / "corrupt.jsonl.gz"
    source.write_bytes(bytes(compressed))
    found, _, error = read_all(source)
    assert found[:whole] == ocids(whole)
    assert isinstance(error, BrokenSourceError) and "corrupt.jsonl.gz breaks after" in str(error)


def test_trailing_bytes_after_a_gzip_are_ignored_as_gzip_does(tmp_path: Path) -> None:
    source = tmp_path / "tail.jsonl.gz"
    source.write_bytes(gzipped(anac_lines(tmp_path, 500)) + b"\x00" * 10 + b"not gzip\n")
    found, rejected, error = read_all(source)
    assert found == ocids(500) and rejected == []
    assert isinstance(error, BrokenSourceError)
    assert "are not gzip; they are ignored (as gzip -d does)" in str(error)


def test_concatenated_gzip_members_and_zero_padding_read_whole(tmp_path: Path) -> None:
    source = tmp_path / "members.jsonl.gz"
    first, second = anac_lines(tmp_path, 300), anac_lines(tmp_path, 300, first=300)
    source.write_bytes(gzipped(first) + gzip.compress(second) + b"\x00" * 1024)
    assert read_all(source) == (ocids(600), [], None)


def test_a_zip_member_with_a_bad_crc_costs_only_itself(tmp_path: Path) -> None:
    members = {
        "a.jsonl": anac_lines(tmp_path, 2000),
        "b.jsonl": anac_lines(tmp_path, 50, first=2000),
    }
    archive = with_bad_crc(write_zip(tmp_path / "monthly.zip", members), "a.jsonl")
    found, rejected, error = read_all(archive)
    assert error is None
    assert found[-50:] == ocids(50, first=2000), "the next member is read whole"
    # The CRC is checked at the member's end: only the bytes of the last read (8 KiB) are lost.
    assert found[:-50] == ocids(len(found) - 50) and len(found) - 50 >= 2000 - 8
    [broken] = rejected
    assert broken.position == f"monthly.zip!a.jsonl: after record {len(found) - 50}"
    assert "the rest of this member could not be read" in broken.reason
    assert "Bad CRC-32 for file 'a.jsonl'" in broken.reason


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (b'{"hello": "world"}', "is not OCDS"),
        (b"just some notes\n", "cannot tell the format"),
        (gzipped(b'{"releases": [')[:-12], "truncated"),
    ],
    ids=["json-not-ocds", "not-a-format", "truncated-gzip-member"],
)
def test_an_unreadable_zip_member_is_a_rejection_and_the_next_is_read(
    tmp_path: Path, member: bytes, reason: str
) -> None:
    members = {
        "a.jsonl": anac_lines(tmp_path, 20),
        "b.json.gz" if member.startswith(b"\x1f\x8b") else "b.txt": member,
        "c.jsonl": anac_lines(tmp_path, 20, first=20),
    }
    found, rejected, error = read_all(write_zip(tmp_path / "mixed.zip", members))
    assert error is None and found == ocids(40)
    [broken] = rejected
    assert broken.position is not None and broken.position.startswith("mixed.zip!b.")
    assert "could not be read" in broken.reason and reason in broken.reason


def test_a_zip_member_that_cannot_be_opened_is_a_rejection(tmp_path: Path) -> None:
    members = {"a.jsonl": anac_lines(tmp_path, 20), "b.jsonl": anac_lines(tmp_path, 20, first=20)}
    archive = write_zip(tmp_path / "method.zip", members)
    data = bytearray(archive.read_bytes())
    data[data.index(b"PK\x01\x02") + 10] = 99  # a.jsonl's method: one zipfile does not know
    archive.write_bytes(bytes(data))
    found, rejected, error = read_all(archive)
    assert error is None and found == ocids(20, first=20)
    [broken] = rejected
    assert broken.position == "method.zip!a.jsonl: after record 0"
    assert "this member could not be read" in broken.reason and "cannot be opened" in broken.reason


def test_a_truncated_tar_gz_keeps_its_members_and_every_whole_line_of_the_cut_one(
    tmp_path: Path,
) -> None:
    first, second = anac_lines(tmp_path, 1000), anac_lines(tmp_path, 1000, first=1000)
    archive = write_tar_gz(tmp_path / "daily.tar.gz", {"a.jsonl": first, "b.jsonl": second})
    compressed = archive.read_bytes()
    archive.write_bytes(compressed[: len(compressed) * 8 // 10])
    tar = readable_gzip(archive.read_bytes())
    start = 512 + -(-len(first) // 512) * 512 + 512  # a's header and data, b's header
    whole = complete_lines(tar[start:])
    assert 0 < whole < 1000
    found, rejected, error = read_all(archive)
    assert error is None
    assert found == ocids(1000 + whole)
    [broken] = rejected
    assert broken.position == f"daily.tar.gz!b.jsonl: after record {whole}"
    assert "daily.tar.gz breaks after" in broken.reason and "truncated" in broken.reason


def test_a_tar_gz_cut_between_members_says_so(tmp_path: Path) -> None:
    first = anac_lines(tmp_path, 100)
    tar = io.BytesIO()
    write_tar_gz(tmp_path / "two.tar.gz", {"a.jsonl": first, "b.jsonl": first})
    tar.write(readable_gzip((tmp_path / "two.tar.gz").read_bytes()))
    end_of_a = 512 + -(-len(first) // 512) * 512
    source = tmp_path / "cut.tar.gz"
    source.write_bytes(gzipped(tar.getvalue()[:end_of_a])[:-8])  # no gzip trailer
    found, rejected, error = read_all(source)
    assert found == ocids(100) and rejected == []
    assert isinstance(error, BrokenSourceError | BrokenArchiveError)
    assert "truncated" in str(error)


def test_a_broken_zip_directory_is_a_clear_error(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "cut.zip", {"a.jsonl": anac_lines(tmp_path, 20)})
    archive.write_bytes(archive.read_bytes()[:-30])  # the end of central directory is cut
    found, rejected, error = read_all(archive)
    assert (found, rejected) == ([], [])
    assert isinstance(error, BrokenArchiveError) and "cut.zip is not a readable zip" in str(error)
