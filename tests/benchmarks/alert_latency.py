"""How long an alert takes: a real worker (`tenders worker`, deployed settings), a webhook
receiver on loopback, and N small files ingested one after another (each once the last
one's alerts have arrived); for every event, the time from its creation in the ingest's
transaction (`tender_events.created_at`) to the webhook's arrival. Prints the median, p95
and max.

    python -m tests.benchmarks.alert_latency [--files 30] [--procedures 2]

Servers: BENCH_DATABASE_URL / BENCH_REDIS_URL (the bench makes and drops a database of its
own); unset, the embedded ones under .data/."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import select

from configs.config import Settings
from src.domain.alerts.entities import TenderEvent
from src.domain.alerts.schemas import WatchSpec
from src.domain.alerts.services.watches import OPERATOR, WatchService
from src.infra.database import create_engine, create_session_factory
from tests.benchmarks.project import migrate
from tests.support.db import enqueue_sources
from tests.support.paths import ROOT
from tests.support.processes import Workers, deployed_worker_env, worker_polls
from tests.support.receivers import Receiver, receiving
from tests.support.servers import Servers, admin, drop_database, resolve_servers
from tests.support.sources import anac_source

TIMEOUT_SECONDS = 60.0


async def _wait(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def _measure(
    servers: Servers, url: str, receiver: Receiver, files: int, procedures: int, work: Path
) -> list[float]:
    queue = f"bench:alerts:{uuid.uuid4().hex[:8]}"
    env = deployed_worker_env(url, servers.redis_url, queue)
    env["ALLOW_PRIVATE_WEBHOOKS"] = "true"
    engine = create_engine(Settings(database_url=url))
    sessions = create_session_factory(engine)
    async with sessions() as session, session.begin():
        spec = WatchSpec(name="latency", webhook_url=receiver.url())
        await WatchService.create(session, spec, owner=OPERATOR)
    workers = Workers(env, work)
    workers.start()
    try:
        await _wait(lambda: worker_polls(env), "the worker")
        expected = 0
        for index in range(files):
            source = work / f"file-{index}.jsonl"
            expected += anac_source(source, procedures, first=index * 1000)
            await enqueue_sources(env, str(source))

            async def arrived(total: int = expected) -> bool:
                return len(receiver.event_ids()) >= total

            await _wait(arrived, f"the alerts of file {index}")
        async with sessions() as session:
            created = dict(
                (await session.execute(select(TenderEvent.id, TenderEvent.created_at))).all()
            )
    finally:
        workers.stop_all()
        await engine.dispose()
    first_seen: dict[str, float] = {}
    for request in receiver.received:
        for event_id in request.event_ids():
            first_seen.setdefault(event_id, request.at)
    return [first_seen[str(i)] - at.timestamp() for i, at in created.items()]


async def main(files: int, procedures: int) -> None:
    servers = resolve_servers("BENCH_DATABASE_URL", "BENCH_REDIS_URL", ROOT / ".data")
    name = f"tenders_alert_latency_{uuid.uuid4().hex[:8]}"
    await admin(servers, f'CREATE DATABASE "{name}"')
    try:
        url = servers.database(name)
        await migrate(url)
        with receiving() as receiver, tempfile.TemporaryDirectory() as work:
            latencies = await _measure(servers, url, receiver, files, procedures, Path(work))
    finally:
        await drop_database(servers, name)
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    print(
        f"{len(ordered)} events from {files} files of {2 * procedures} tenders: "
        f"median {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms (event created -> webhook received)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=30, help="files ingested one after another")
    parser.add_argument("--procedures", type=int, default=2, help="procedures (2 tenders each)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.files, arguments.procedures))
