"""A path that names something other than a regular file: a FIFO (whose open waits for a
writer, on the event loop it would freeze, SIGTERM included), a device, a socket. The job
fails at once with a message that says what the path is; nothing waits."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import IngestRun
from src.infra.sources import SourceError
from tests.support.jobs import ingest_source, run_chunks, with_settings
from tests.support.sources import anac_source

RESCUE_AFTER = 30.0  # seconds: the bound on a job stuck in a FIFO's open


@contextlib.contextmanager
def rescued(fifo: Path) -> Iterator[threading.Event]:
    """Bounds the wait on a reader stuck opening `fifo`: after RESCUE_AFTER seconds, open
    its writing end once (which lets the reader's open return) and set the event it yields.
    A correct job never opens the FIFO for reading, and never needs this."""
    done, fired = threading.Event(), threading.Event()

    def rescue() -> None:
        if done.wait(RESCUE_AFTER):
            return
        fired.set()
        while not done.is_set():
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader yet: ENXIO
                done.wait(0.05)

    thread = threading.Thread(target=rescue, daemon=True)
    thread.start()
    try:
        yield fired
    finally:
        done.set()
        thread.join()


async def _fails_at_once(ctx: dict[str, Any], location: str, fifo: Path, match: str) -> str:
    run_id = str(uuid.uuid4())
    with rescued(fifo) as fired, pytest.raises(SourceError, match=match):
        await ingest_source(ctx, location, run_id=run_id)
    assert not fired.is_set(), "the job waited on the FIFO until it was rescued"
    return run_id


@pytest.mark.parametrize("chunk_min_bytes", [1 << 40, 1], ids=["whole", "splittable"])
async def test_a_fifo_fails_its_run_at_once(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path, chunk_min_bytes: int
) -> None:
    fifo = tmp_path / "releases.jsonl"
    os.mkfifo(fifo)
    with_settings(ctx, chunk_min_bytes=chunk_min_bytes)
    run_id = await _fails_at_once(ctx, str(fifo), fifo, "not a regular file")
    run = await db_session.get(IngestRun, uuid.UUID(run_id))
    assert run is not None and run.status == "failed"
    assert run.error is not None and "FIFO" in run.error
    link = tmp_path / "link.json"
    link.symlink_to(fifo)
    await _fails_at_once(ctx, link.as_uri(), fifo, "not a regular file")


async def test_devices_and_sockets_are_refused(ctx: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"not a regular file.*device"):
        await ingest_source(ctx, "/dev/zero")
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        with pytest.raises(SourceError, match=r"not a regular file.*socket"):
            await ingest_source(ctx, str(path))


async def test_a_split_file_replaced_by_a_fifo_fails_its_chunks_at_once(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    source = tmp_path / "big.jsonl"
    anac_source(source, 20)
    with_settings(ctx, chunk_min_bytes=1, chunk_bytes=4096)
    run_id = str(uuid.uuid4())
    assert (await ingest_source(ctx, str(source), run_id=run_id))["status"] == "split"
    source.unlink()
    os.mkfifo(source)
    with rescued(source) as fired, pytest.raises(SourceError, match=r"changed|not a regular"):
        await run_chunks(ctx, uuid.UUID(run_id))
    assert not fired.is_set(), "the chunk job waited on the FIFO until it was rescued"
    run = await db_session.get(IngestRun, uuid.UUID(run_id))
    assert run is not None
    await db_session.refresh(run)
    assert run.status == "failed"
