"""Archives under the decompression limit: every byte that comes out of a decompressor (the
source's gzip, a compressed zip member, a gzip member) is charged to one budget per source."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from src.infra.streams import DecompressionBudget, SizeLimitExceededError, maybe_gunzip
from src.readers import UnmappedDocument
from src.readers.registry import read_source
from tests.support.archives import BOMB, anac_lines, gzipped, write_tar_gz, write_zip

LIMIT = 1024 * 1024


def read_all(path: Path, budget: DecompressionBudget) -> tuple[set[str], Exception | None]:
    """The procedures (ocids) read from the source, opened as a source is (gzip undone), and
    the error that stopped the reading, if any."""
    found: set[str] = set()
    with path.open("rb") as handle:
        stream = maybe_gunzip(handle, budget, path.name)
        try:
            for item in read_source(stream, path.name, budget=budget):
                assert isinstance(item, UnmappedDocument), item
                found.add(item.digest.document_key)
        except SizeLimitExceededError as error:
            return found, error
    return found, None


def ocids(procedures: int, *, first: int = 0) -> set[str]:
    return {f"ocds-hu01ve-{i}" for i in range(first, first + procedures)}


def good_members(tmp_path: Path, procedures: int = 50) -> dict[str, bytes]:
    return {
        "a.jsonl": anac_lines(tmp_path, procedures),
        "b.jsonl": anac_lines(tmp_path, procedures, first=procedures),
    }


def assert_bomb(error: Exception | None, member: str) -> None:
    assert isinstance(error, SizeLimitExceededError)
    assert f"decompresses to more than {LIMIT} bytes (MAX_DECOMPRESSED_BYTES)" in str(error)
    assert "possible decompression bomb" in str(error) and member in str(error)


@pytest.mark.parametrize(
    "compression",
    [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA],
    ids=["deflate", "bzip2", "lzma"],
)
def test_a_compressed_zip_member_stops_at_the_limit_after_the_good_ones(
    tmp_path: Path, compression: int
) -> None:
    members = {**good_members(tmp_path), "c-bomb.json": BOMB}
    archive = write_zip(tmp_path / "bomb.zip", members, compression)
    assert archive.stat().st_size < 100_000  # inflates to 16 MB
    found, error = read_all(archive, DecompressionBudget(LIMIT))
    assert_bomb(error, "c-bomb.json")
    assert found == ocids(100)


def test_all_members_of_a_source_share_one_limit(tmp_path: Path) -> None:
    members = {**good_members(tmp_path, 350), "c.jsonl": anac_lines(tmp_path, 350, first=700)}
    assert all(len(data) < LIMIT for data in members.values())
    assert sum(len(data) for data in members.values()) > LIMIT
    archive = write_zip(tmp_path / "big.zip", members)
    found, error = read_all(archive, DecompressionBudget(LIMIT))
    assert_bomb(error, "c.jsonl")
    assert found >= ocids(700)


def test_a_gzip_member_of_a_zip_stops_at_the_limit(tmp_path: Path) -> None:
    members = {**good_members(tmp_path), "c-bomb.json.gz": gzipped(BOMB)}
    archive = write_zip(tmp_path / "nested.zip", members)
    found, error = read_all(archive, DecompressionBudget(LIMIT))
    assert_bomb(error, "c-bomb.json.gz")
    assert found == ocids(100)


def test_a_gzip_member_of_a_tar_gz_stops_at_the_limit(tmp_path: Path) -> None:
    members = {**good_members(tmp_path), "c-bomb.json.gz": gzipped(BOMB)}
    archive = write_tar_gz(tmp_path / "nested.tar.gz", members)
    found, error = read_all(archive, DecompressionBudget(LIMIT))
    assert_bomb(error, "c-bomb.json.gz")
    assert found == ocids(100)


def test_a_tar_gz_is_charged_once_as_its_tar_stream(tmp_path: Path) -> None:
    members = good_members(tmp_path, 250)
    archive = write_tar_gz(tmp_path / "daily.tar.gz", members)
    tar_size = len(gzip.decompress(archive.read_bytes()))
    assert sum(len(data) for data in members.values()) * 2 > LIMIT > tar_size
    budget = DecompressionBudget(LIMIT)
    found, error = read_all(archive, budget)
    assert error is None and found == ocids(500)
    assert budget.used == tar_size


def test_stored_zip_members_are_not_decompression(tmp_path: Path) -> None:
    members = {**good_members(tmp_path, 350), "c.jsonl": anac_lines(tmp_path, 350, first=700)}
    assert sum(len(data) for data in members.values()) > LIMIT
    archive = write_zip(tmp_path / "stored.zip", members, zipfile.ZIP_STORED)
    budget = DecompressionBudget(LIMIT)
    found, error = read_all(archive, budget)
    assert error is None and found == ocids(1050)
    assert budget.used == 0
