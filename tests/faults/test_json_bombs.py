"""JSON built to kill a worker, through the real job in a real worker process under an
address-space limit: an integer too long for CPython (ijson's C backend crashed the process
with SIGSEGV, and every job in it died), nesting 100,000 levels deep (ijson's memory grew
with the square of the depth), 70 MB of package fields after its releases and a 200 MB JSON
line in a split source (both built whole in memory). The worker exits 0, each run completes,
every good record is kept and the bomb's item is a rejection."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from configs.config import Settings
from src.domain.runs.entities import IngestRun, Rejection
from src.domain.tender.entities import Tender
from src.infra.database import create_engine, create_session_factory
from tests.support.db import enqueue_sources
from tests.support.hostile_json import (
    Bomb,
    cig,
    depth_bombs,
    json_lines,
    nested,
    number_bombs,
    package,
    release,
    with_member,
)
from tests.support.processes import Workers, worker_env
from tests.support.servers import Servers

pytestmark = pytest.mark.slow

ONE_GIB = 1024**3


async def _ingest_under_limit(
    servers: Servers,
    database_url: str,
    workers: Callable[[dict[str, str]], Workers],
    sources: list[Path],
    address_space: int,
    **env: str,
) -> dict[str, tuple[IngestRun, list[str], set[str]]]:
    """Every source ingested by one burst worker limited to `address_space` bytes: by
    source, its run, its rejections' reasons and the CIGs of the tenders it wrote."""
    environment = worker_env(database_url, servers.redis_url, WORKER_MAX_TRIES="1", **env)
    enqueued = await enqueue_sources(environment, *map(str, sources))
    group = workers(environment)
    worker = group.start(
        "--burst", wrap=(sys.executable, "-m", "tests.support.limited", str(address_space))
    )
    assert worker.wait(timeout=600) == 0, group.output()
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with create_session_factory(engine)() as session:
            outcome = {}
            for source, queued in zip(sources, enqueued, strict=True):
                assert queued.run_id is not None
                run = await session.get(IngestRun, queued.run_id)
                assert run is not None
                reasons = await session.scalars(
                    select(Rejection.reason).where(Rejection.run_id == run.id)
                )
                tenders = await session.scalars(
                    select(Tender.cig).where(Tender.source_url == str(source))
                )
                outcome[source.name] = (run, list(reasons), {c for c in tenders if c})
            return outcome
    finally:
        await engine.dispose()


async def test_json_bombs_cost_one_rejection_each_and_no_worker(
    servers: Servers,
    fresh_database_url: str,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    bombs: list[Bomb] = [
        *number_bombs(3_000_000, 4301),
        *number_bombs(3_000_100, 100_000),
        *depth_bombs(3_000_200, 100_000),
    ]
    sources = []
    for index, bomb in enumerate(bombs):
        sources.append(tmp_path / f"{index:02d}-{bomb.name}.json")
        sources[-1].write_bytes(bomb.content)
    outcome = await _ingest_under_limit(servers, fresh_database_url, workers, sources, ONE_GIB)
    for source, bomb in zip(sources, bombs, strict=True):
        run, reasons, written = outcome[source.name]
        assert run.status == "complete", (bomb.name, run.error)
        assert (run.inserted, run.rejected) == (len(bomb.good), 1), bomb.name
        assert written == set(bomb.good) and bomb.reason in reasons[0], (bomb.name, reasons)


async def test_memory_stays_bounded_by_the_object_size(
    servers: Servers,
    fresh_database_url: str,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    """78 MB of package fields nothing reads, after the releases, are left out unbuilt; a
    200 MB line of a source split into chunks passes in pieces and is a rejection. Both took
    about 800 MB before: the worker is limited to 512 MiB here."""
    metadata, split = tmp_path / "package.json", tmp_path / "split.jsonl"
    extension = b', {"name": "extension", "url": "https://example.com/e.json"}'
    with metadata.open("wb") as out:
        out.write(package(release(4_000_001), release(4_000_002))[:-1] + b', "extensions": [0')
        for _ in range(130):
            out.write(extension * 10_000)  # 130 times 600 KB
        out.write(b"]}")
    with split.open("wb") as out:
        out.write(json_lines(*(release(4_000_100 + i) for i in range(20))))
        out.write(release(4_000_200)[:-1] + b', "x": "')
        for _ in range(200):
            out.write(b"y" * 1024**2)
        out.write(b'"}\n')
        out.write(json_lines(*(release(4_000_300 + i) for i in range(20))))
    outcome = await _ingest_under_limit(
        servers,
        fresh_database_url,
        workers,
        [metadata, split],
        ONE_GIB // 2,
        CHUNK_MIN_BYTES=str(1024**2),
    )
    run, reasons, written = outcome["package.json"]
    assert (run.status, run.inserted, reasons) == ("complete", 2, [])
    assert written == {cig(4_000_001), cig(4_000_002)}
    run, reasons, written = outcome["split.jsonl"]
    assert run.status == "complete" and run.chunks_total > 1
    assert (run.inserted, run.rejected, len(written)) == (40, 1, 40)
    assert reasons == [
        "line 21 is larger than 67108864 bytes (MAX_OBJECT_BYTES): not read "
        "(a single publication this size is broken input)"
    ]


async def test_a_chunk_that_starts_with_a_broken_line_is_still_read_line_by_line(
    servers: Servers,
    fresh_database_url: str,
    workers: Callable[[dict[str, str]], Workers],
    tmp_path: Path,
) -> None:
    """A split source's chunk starts at the first line that starts in its bytes: when that
    line is broken (nested too deep, not JSON at all), the chunk is still JSON Lines, of the
    file's format. Read as a JSON document instead, the first line's break cost every good
    line after it in the chunk, and a chunk of text that is no format failed the run."""

    def long_release(index: int) -> bytes:  # longer than a chunk: the next line starts one
        return with_member(release(index), "notes", b'"' + b"x" * 20_000 + b'"')

    lines = [
        *(release(5_000_000 + i) for i in range(20)),
        long_release(5_000_100),
        nested(500),
        *(release(5_000_200 + i) for i in range(20)),
        long_release(5_000_300),
        b"not JSON at all",
        *(release(5_000_400 + i) for i in range(20)),
    ]
    source = tmp_path / "broken-chunk-starts.jsonl"
    source.write_bytes(json_lines(*lines))
    outcome = await _ingest_under_limit(
        servers,
        fresh_database_url,
        workers,
        [source],
        ONE_GIB,
        CHUNK_BYTES="8192",
        CHUNK_MIN_BYTES="4096",
    )
    run, reasons, written = outcome[source.name]
    assert run.status == "complete" and run.chunks_total > 4, run.error
    good = [5_000_100, 5_000_300, *(5_000_000 + 200 * k + i for k in range(3) for i in range(20))]
    assert (run.inserted, run.rejected) == (len(good), 2), reasons
    assert written == {cig(index) for index in good}
    assert any("deeper than" in reason for reason in reasons), reasons
    assert any("not valid JSON" in reason for reason in reasons), reasons
