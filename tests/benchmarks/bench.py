"""Ingestion throughput, side by side with the physical limit, on one machine in one run.

    python -m tests.benchmarks.bench [--tenders 100000] [--big-bytes 1G] [--skip-big]
                                     [--json bench-results.json] [--markdown FILE]

Servers: BENCH_DATABASE_URL (any database of the server: the bench creates and drops its own)
and BENCH_REDIS_URL; unset, the embedded ones under .data/ (as `make test` uses them).
Every case runs on a fresh database copied from one migrated to head (the final schema with
all its indexes), dropped afterwards. Cases, rows per second, median of --repeat (3):

  (a) limit: asyncpg COPY (copy_records_to_table) of the same rows, built beforehand as tuples
      by the project's own reader, into an empty `CREATE TABLE .. (LIKE tenders INCLUDING ALL)`
  (b) the seed's naive path: TenderService.create and one commit per row, on --naive-rows rows
  (c) ours, end to end: enqueue_ingest -> `python -m src.cli worker --burst` -> committed rows,
      timed from the enqueue to the run's finished_at (the last commit), into an empty database
  (d) the same source again, nothing changed        (same database, right after (c))
  (e) the same source with --change-fraction of the procedures changed   (after (d))
  (f) the worker's peak RSS (VmHWM) while it ingests a --big-bytes file   (run once)
  (g) (c) with 1 worker (= (c)) and with 2 worker processes sharing one source

Generated sources are cached under .data/bench/ (the generator is deterministic).
Linux: RSS and CPU figures are read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from configs.config import Settings, redact_url
from src.domain.runs.entities import IngestRun
from src.domain.tender.entities import Tender
from src.domain.tender.schemas import DeferredDocument, TenderCreate, TenderRecord
from src.domain.tender.services import TenderService
from src.infra.database import create_engine, create_session_factory
from src.infra.database.migrate import upgrade
from src.infra.queue import create_queue_pool
from src.ingest.enqueue import enqueue_ingest
from src.readers.registry import read_source
from tests.support import generators as generate
from tests.support.polling import until

ROOT = Path(__file__).resolve().parents[2]
GENERATOR_VERSION = 1  # bump when generate.py changes what it writes: cached files are renamed
TARGETS = {"c/a": 0.5, "d/a": 1.0, "c/b": 10.0}
RSS_TARGET_MB = 250.0
MB = 1_000_000


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- servers and databases -------------------------------------------------------------------


@dataclass(frozen=True)
class Servers:
    database_url: str  # postgresql+asyncpg://, a database of the server we may connect to
    redis_url: str
    kind: str  # "env" or "embedded"

    def database(self, name: str) -> str:
        return make_url(self.database_url).set(database=name).render_as_string(False)

    def dsn(self, name: str | None = None) -> str:
        url = make_url(self.database_url).set(drivername="postgresql")
        if name is not None:
            url = url.set(database=name)
        return url.render_as_string(False)


def resolve_servers() -> Servers:
    database_url = os.environ.get("BENCH_DATABASE_URL")
    redis_url = os.environ.get("BENCH_REDIS_URL")
    kind = "env"
    if database_url is None or redis_url is None:
        from src.infra import embedded

        kind = "embedded" if database_url is None and redis_url is None else "env+embedded"
        data_dir = ROOT / ".data"
        database_url = database_url or embedded.postgres_url(data_dir, "postgres")
        redis_url = redis_url or embedded.redis_url(data_dir)
    return Servers(Settings(database_url=database_url).require_database_url(), redis_url, kind)


async def admin(servers: Servers, sql: str) -> None:
    connection = await asyncpg.connect(servers.dsn())
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@dataclass
class Databases:
    """One migrated template per run; every case gets a copy of it, dropped afterwards."""

    servers: Servers
    prefix: str = field(default_factory=lambda: f"tenders_bench_{uuid.uuid4().hex[:8]}")
    template: str = ""
    created: list[str] = field(default_factory=list)

    async def migrate_template(self) -> None:
        self.template = f"{self.prefix}_tpl"
        await admin(self.servers, f'CREATE DATABASE "{self.template}"')
        self.created.append(self.template)
        engine = create_engine(Settings(database_url=self.servers.database(self.template)))
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    @contextlib.asynccontextmanager
    async def fresh(self) -> AsyncIterator[str]:
        name = f"{self.prefix}_{uuid.uuid4().hex[:8]}"
        await admin(self.servers, f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        try:
            yield self.servers.database(name)
        finally:
            await self.drop(name)

    async def drop(self, name: str) -> None:
        await admin(self.servers, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    async def drop_all(self) -> None:
        for name in list(self.created):
            with contextlib.suppress(Exception):
                await self.drop(name)


# --- sources ---------------------------------------------------------------------------------


@dataclass
class Source:
    path: Path
    tenders: int
    procedures: int
    bytes: int
    changed_tenders: int


def make_source(
    work: Path,
    *,
    tenders: int | None = None,
    max_bytes: int | None = None,
    seed: int,
    change_fraction: float = 0.0,
) -> Source:
    size = f"t{tenders}" if tenders is not None else f"b{max_bytes}"
    name = f"anac-v{GENERATOR_VERSION}-s{seed}-{size}-c{change_fraction:g}.jsonl"
    path = work / name
    meta = path.with_name(name + ".meta.json")
    if path.exists() and meta.exists():
        return Source(path=path, **orjson.loads(meta.read_bytes()))
    log(f"generating {path.name}")
    stats = generate.write(
        path, tenders=tenders, max_bytes=max_bytes, seed=seed, change_fraction=change_fraction
    )
    info = {
        "tenders": stats.tenders,
        "procedures": stats.procedures,
        "bytes": stats.bytes,
        "changed_tenders": stats.changed_tenders,
    }
    meta.write_bytes(orjson.dumps(info))
    return Source(path=path, **info)


# --- (a) and (b): rows built beforehand ------------------------------------------------------


async def tender_columns(url: str) -> list[tuple[str, bool, bool]]:
    """(name, nullable, has a default) of the tenders table, in table order."""
    connection = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(False)
    )
    try:
        rows = await connection.fetch(
            "SELECT column_name, is_nullable = 'YES' AS nullable,"
            " (column_default IS NOT NULL OR is_generated = 'ALWAYS' OR is_identity = 'YES')"
            " AS defaulted FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = 'tenders'"
            " ORDER BY ordinal_position"
        )
    finally:
        await connection.close()
    return [(row["column_name"], row["nullable"], row["defaulted"]) for row in rows]


def record_values(record: TenderRecord) -> dict[str, Any]:
    """What the worker writes for a record (created_at / updated_at come from defaults)."""
    values = record.hashed_fields()
    values["source_url"] = record.source_url
    values["id"] = uuid.uuid4()
    values["identity_key"] = record.identity_key
    values["content_hash"] = record.content_hash()
    return values


def _mapped(items: Iterator[object]) -> Iterator[object]:
    """JSON lines come out of the reader unmapped (mapped in the worker only when new)."""
    for item in items:
        if isinstance(item, DeferredDocument):
            yield from item.build()
        else:
            yield item


def build_rows(
    source: Source, columns: list[tuple[str, bool, bool]], naive_rows: int
) -> tuple[list[str], list[tuple[Any, ...]], list[TenderCreate]]:
    """The source read by the project's reader, as COPY tuples and as TenderCreate."""
    names: list[str] | None = None
    rows: list[tuple[Any, ...]] = []
    creates: list[TenderCreate] = []
    with source.path.open("rb") as stream:
        for item in _mapped(
            read_source(stream, source.path.name, format_name=None, source_url=str(source.path))
        ):
            if not isinstance(item, TenderRecord):
                raise RuntimeError(f"the generated source does not map cleanly: {item!r}")
            values = record_values(item)
            if names is None:
                names = [name for name, _, _ in columns if name in values]
                missing = [
                    n
                    for n, nullable, defaulted in columns
                    if n not in values and not nullable and not defaulted
                ]
                if missing:
                    raise RuntimeError(
                        f"tenders has NOT NULL columns the bench cannot fill: {missing}; "
                        "teach tests/benchmarks/bench.py:record_values about them"
                    )
            rows.append(tuple(values[name] for name in names))
            if len(creates) < naive_rows:
                creates.append(TenderCreate(**item.model_dump()))
    return names or [], rows, creates


async def copy_limit(url: str, columns: list[str], rows: list[tuple[Any, ...]]) -> float:
    """(a): seconds for one COPY of all rows into an empty copy of tenders, indexes included."""
    connection = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(False)
    )
    try:
        await connection.execute("CREATE TABLE bench_tenders_copy (LIKE tenders INCLUDING ALL)")
        started = time.perf_counter()
        await connection.copy_records_to_table("bench_tenders_copy", records=rows, columns=columns)
        seconds = time.perf_counter() - started
        copied = await connection.fetchval("SELECT count(*) FROM bench_tenders_copy")
        if copied != len(rows):
            raise RuntimeError(f"COPY wrote {copied} rows of {len(rows)}")
        return seconds
    finally:
        await connection.close()


async def naive_path(url: str, creates: list[TenderCreate]) -> float:
    """(b): seconds for TenderService.create + commit, one transaction per row."""
    engine = create_engine(Settings(database_url=url))
    factory = create_session_factory(engine)
    try:
        started = time.perf_counter()
        for data in creates:
            async with factory() as session, session.begin():
                await TenderService.create(session, data)
        return time.perf_counter() - started
    finally:
        await engine.dispose()


# --- (c) to (g): the real path ---------------------------------------------------------------


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM in bytes, from /proc (empty when unavailable)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    found = {}
    for key in ("VmRSS", "VmHWM"):
        match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
        if match:
            found[key] = int(match.group(1)) * 1024
    return found


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process, from /proc/PID/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _machine_cpu() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    ticks = [int(value) for value in first[1:9]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / _TICKS, sum(ticks) / _TICKS


@dataclass
class WorkerStats:
    pid: int
    returncode: int | None = None
    peak_rss_mb: float | None = None
    cpu_seconds: float | None = None
    jobs_started: int | None = None
    log: str = ""


class IngestFailedError(RuntimeError):
    """The workers ran, but the runs did not complete; what was sampled is kept."""

    def __init__(self, message: str, workers: list[WorkerStats]) -> None:
        super().__init__(message)
        self.workers = workers


@dataclass
class IngestResult:
    seconds: float  # enqueue -> last finished_at
    job_seconds: float  # first started_at -> last finished_at
    rows: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    runs: int
    tenders_in_db: int
    machine_cpu_busy: float | None  # share of all cores busy during the run
    workers: list[WorkerStats]

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    @property
    def job_rate(self) -> float:
        return self.rows / self.job_seconds

    @property
    def peak_rss_mb(self) -> float | None:
        peaks = [w.peak_rss_mb for w in self.workers if w.peak_rss_mb is not None]
        return max(peaks) if peaks else None


def worker_env(servers: Servers, url: str, queue: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BENCH_", "TEST_"))}
    env.update(DATABASE_URL=url, REDIS_URL=servers.redis_url, QUEUE_NAME=queue)
    return env


async def ingest(
    servers: Servers,
    url: str,
    source: Path,
    *,
    workers: int = 1,
    logs: Path,
    label: str,
    timeout: float = 3600,
    wrap: list[str] | None = None,
) -> IngestResult:
    """Enqueue `source` with enqueue_ingest, run `workers` burst worker processes until the
    queue is empty, and read what the runs say. Time: enqueue -> last run's finished_at."""
    queue = f"bench:{uuid.uuid4().hex[:12]}"
    settings = Settings(database_url=url, redis_url=servers.redis_url, queue_name=queue)
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    pool = await create_queue_pool(settings)
    env = worker_env(servers, url, queue)
    stats: list[WorkerStats] = []
    processes: list[subprocess.Popen[bytes]] = []
    try:
        async with factory() as session:
            earlier = set((await session.scalars(select(IngestRun.id))).all())
        cpu_before = _machine_cpu()
        enqueued_at = time.time()
        enqueued = await enqueue_ingest(pool, factory, str(source))
        if not enqueued.created:
            raise RuntimeError(f"{source} was already queued on {queue}")
        for index in range(workers):
            log_path = logs / f"{label}-w{index + 1}.log"
            with log_path.open("wb") as handle:
                command = [sys.executable, "-m", "src.cli", "worker", "--burst"]
                process = subprocess.Popen(
                    [*(wrap or []), *command],
                    cwd=ROOT,
                    env=env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                )
            processes.append(process)
            stats.append(WorkerStats(pid=process.pid, log=str(log_path)))
        deadline = time.monotonic() + timeout
        pids = {p.pid: p.pid for p in processes}
        if wrap:  # a wrapper (py-spy) runs the worker as its child: watch the child

            async def children() -> dict[int, int]:
                found = [(p, _python_child(p.pid)) for p in processes]
                if any(child is None and p.poll() is None for p, child in found):
                    return {}  # a wrapper that still runs has not started its child yet
                return {p.pid: child or p.pid for p, child in found}

            pids = await until(children, 30, "the wrapper to start the worker")
        while any(p.poll() is None for p in processes):
            if time.monotonic() > deadline:
                for p in processes:
                    p.kill()
                raise TimeoutError(f"{label}: workers still running after {timeout:.0f} s")
            for process, stat in zip(processes, stats, strict=True):
                if process.poll() is not None:
                    continue
                watched = pids[process.pid]
                status = _proc_status(watched)
                if "VmHWM" in status:
                    peak = status["VmHWM"] / MB
                    stat.peak_rss_mb = max(stat.peak_rss_mb or 0.0, peak)
                cpu = _proc_cpu(watched)
                if cpu is not None:
                    stat.cpu_seconds = cpu
            await asyncio.sleep(0.05)  # the sampling period of this watch, not a wait
        cpu_after = _machine_cpu()
        for process, stat in zip(processes, stats, strict=True):
            stat.returncode = process.returncode
            text = Path(stat.log).read_text(errors="replace")
            # arq logs "→ <job id>:<function>(...)" as it starts a job; ingest job ids
            # start with "ingest:" (the cron's do not).
            stat.jobs_started = text.count(" → ingest:")
            if process.returncode != 0:
                raise RuntimeError(
                    f"{label}: worker exited {process.returncode}; its log ends:\n{text[-3000:]}"
                )
        async with factory() as session:
            runs = [
                r for r in (await session.scalars(select(IngestRun))).all() if r.id not in earlier
            ]
            in_db = int(await session.scalar(select(func.count()).select_from(Tender)) or 0)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        await pool.aclose()
        await engine.dispose()
    unfinished = [r for r in runs if r.status != "complete" or r.finished_at is None]
    if not runs or unfinished:
        details = "; ".join(f"{r.source}: {r.status} {r.error or ''}" for r in runs)
        tail = Path(stats[-1].log).read_text(errors="replace")[-3000:] if stats else ""
        raise IngestFailedError(
            f"{label}: runs did not complete: {details or 'no run row'}; "
            f"the last worker's log ends:\n{tail}",
            stats,
        )
    finished = max(r.finished_at for r in runs if r.finished_at is not None)
    started = min(r.started_at for r in runs if r.started_at is not None)
    busy = None
    if cpu_before and cpu_after and cpu_after[1] > cpu_before[1]:
        busy = (cpu_after[0] - cpu_before[0]) / (cpu_after[1] - cpu_before[1])
    inserted = sum(r.inserted for r in runs)
    updated = sum(r.updated for r in runs)
    unchanged = sum(r.unchanged for r in runs)
    return IngestResult(
        seconds=finished.timestamp() - enqueued_at,
        job_seconds=(finished - started).total_seconds(),
        rows=inserted + updated + unchanged,
        inserted=inserted,
        updated=updated,
        unchanged=unchanged,
        rejected=sum(r.rejected for r in runs),
        runs=len(runs),
        tenders_in_db=in_db,
        machine_cpu_busy=busy,
        workers=stats,
    )


def _python_child(pid: int) -> int | None:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Case:
    key: str
    title: str
    rows: int
    runs: list[float] = field(default_factory=list)  # rows per second
    extra: dict[str, Any] = field(default_factory=dict)
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None


def ingest_detail(result: IngestResult) -> dict[str, Any]:
    detail = asdict(result)
    detail["rows_per_second"] = result.rate
    detail["job_rows_per_second"] = result.job_rate
    detail["peak_rss_mb"] = result.peak_rss_mb
    return detail


def check_counts(label: str, result: IngestResult, **expected: int) -> list[str]:
    problems = [
        f"{label}: {name} {getattr(result, name)} (expected {value})"
        for name, value in expected.items()
        if getattr(result, name) != value
    ]
    for problem in problems:
        log("CHECK " + problem)
    return problems


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        memory = round(int(first.split()[1]) / 1024**2, 1)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


async def server_info(servers: Servers) -> dict[str, Any]:
    connection = await asyncpg.connect(servers.dsn())
    try:
        version = await connection.fetchval("SHOW server_version")
        settings = {
            name: await connection.fetchval(f"SHOW {name}")
            for name in ("shared_buffers", "synchronous_commit", "fsync", "max_wal_size")
        }
    finally:
        await connection.close()
    pool = await create_queue_pool(Settings(redis_url=servers.redis_url))
    try:
        redis_version = (await pool.info("server")).get("redis_version")
    finally:
        await pool.aclose()
    return {
        "kind": servers.kind,
        "postgres": version,
        "postgres_settings": settings,
        "postgres_url": redact_url(servers.database_url),
        "redis": redis_version,
        "redis_url": redact_url(servers.redis_url),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    servers = resolve_servers()
    work: Path = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs" / datetime.now().strftime("%Y%m%d-%H%M%S")
    logs.mkdir(parents=True, exist_ok=True)
    info = {"machine": machine_info(), "servers": await server_info(servers)}
    log(f"servers: {info['servers']['postgres_url']} / {info['servers']['redis_url']}")

    base = make_source(work, tenders=args.tenders, seed=args.seed)
    changed = make_source(
        work, tenders=args.tenders, seed=args.seed, change_fraction=args.change_fraction
    )
    big = None if args.skip_big else make_source(work, max_bytes=args.big_bytes, seed=args.seed)
    n = base.tenders

    databases = Databases(servers)
    cases = {
        "a": Case("a", "limit: asyncpg COPY into an empty copy of tenders", n),
        "b": Case("b", f"naive: TenderService.create + commit per row ({args.naive_rows:,})", n),
        "c": Case("c", "ours: enqueue -> worker -> committed, empty database", n),
        "d": Case("d", "same source again, unchanged", n),
        "e": Case("e", f"same source, {changed.changed_tenders:,} tenders changed", n),
        "g2": Case("g2", "(c) with 2 worker processes on one source", n),
    }
    problems: list[str] = []
    failures: list[str] = []

    def failed(label: str, error: BaseException) -> None:
        """A case that breaks is reported, and the others still run."""
        first_line = (str(error).splitlines() or [""])[0]
        failures.append(f"{label}: {type(error).__name__}: {first_line}")
        log(f"FAILED {label}: {error}")

    big_result: IngestResult | dict[str, Any] | None = None
    profile = None
    creates: list[TenderCreate] = []
    try:
        await databases.migrate_template()
        columns = await tender_columns(servers.database(databases.template))
        log(f"reading {base.path.name} with the project's reader to build the COPY tuples")
        names, rows, creates = build_rows(base, columns, args.naive_rows)
        cases["a"].extra["columns"] = names
        for rep in range(1, args.repeat + 1):
            log(f"round {rep}/{args.repeat}: (a) COPY")
            try:
                async with databases.fresh() as url:
                    seconds = await copy_limit(url, names, rows)
                cases["a"].runs.append(n / seconds)
                cases["a"].details.append({"seconds": seconds})
            except Exception as error:  # noqa: BLE001 - reported, the bench goes on
                failed(f"(a) round {rep}", error)

            log(f"round {rep}/{args.repeat}: (b) naive path on {len(creates):,} rows")
            try:
                async with databases.fresh() as url:
                    seconds = await naive_path(url, creates)
                cases["b"].runs.append(len(creates) / seconds)
                cases["b"].details.append({"seconds": seconds, "rows": len(creates)})
            except Exception as error:  # noqa: BLE001
                failed(f"(b) round {rep}", error)

            key = "c"
            try:
                async with databases.fresh() as url:
                    log(f"round {rep}/{args.repeat}: (c) ingest into an empty database")
                    first = await ingest(servers, url, base.path, logs=logs, label=f"c{rep}")
                    record(cases["c"], first)
                    problems += check_counts(
                        "(c)", first, inserted=n, updated=0, unchanged=0, tenders_in_db=n
                    )
                    key = "d"
                    log(f"round {rep}/{args.repeat}: (d) the same source again")
                    again = await ingest(servers, url, base.path, logs=logs, label=f"d{rep}")
                    record(cases["d"], again)
                    problems += check_counts("(d)", again, inserted=0, updated=0, unchanged=n)
                    key = "e"
                    log(f"round {rep}/{args.repeat}: (e) {args.change_fraction:.0%} changed")
                    moved = await ingest(servers, url, changed.path, logs=logs, label=f"e{rep}")
                    record(cases["e"], moved)
                    problems += check_counts(
                        "(e)", moved, inserted=0, updated=changed.changed_tenders, tenders_in_db=n
                    )
            except Exception as error:  # noqa: BLE001
                failed(f"({key}) round {rep}", error)

            log(f"round {rep}/{args.repeat}: (g) 2 workers on one source")
            try:
                async with databases.fresh() as url:
                    pair = await ingest(
                        servers, url, base.path, workers=2, logs=logs, label=f"g{rep}"
                    )
                record(cases["g2"], pair)
                problems += check_counts("(g)", pair, inserted=n, tenders_in_db=n)
            except Exception as error:  # noqa: BLE001
                failed(f"(g) round {rep}", error)

        if big is not None:
            log(f"(f) peak RSS on {big.bytes / MB:,.0f} MB ({big.tenders:,} tenders)")
            try:
                async with databases.fresh() as url:
                    big_result = await ingest(servers, url, big.path, logs=logs, label="f")
                problems += check_counts("(f)", big_result, inserted=big.tenders)
            except IngestFailedError as error:
                failed("(f)", error)
                peaks = [w.peak_rss_mb for w in error.workers if w.peak_rss_mb is not None]
                big_result = {"peak_rss_mb": max(peaks, default=None), "failed": str(error)}
            except Exception as error:  # noqa: BLE001
                failed("(f)", error)

        if args.profile:
            try:
                profile = await profile_worker(servers, databases, base, logs, args.profile)
            except Exception as error:  # noqa: BLE001
                failed("profile", error)
    finally:
        await databases.drop_all()

    return report(
        args,
        info,
        base,
        changed,
        big,
        cases,
        big_result,
        profile,
        problems,
        failures,
        logs,
        len(creates),
    )


def record(case: Case, result: IngestResult) -> None:
    case.runs.append(result.rate)
    case.details.append(ingest_detail(result))


async def profile_worker(
    servers: Servers, databases: Databases, source: Source, logs: Path, out: Path
) -> dict[str, Any]:
    """One extra (c), not counted, under py-spy: where the worker's time goes."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise RuntimeError("--profile needs py-spy (pip install py-spy)")
    raw = out.with_suffix(".txt")
    log(f"profiling one more (c) with py-spy into {raw}")
    wrap = [spy, "record", "--format", "raw", "--threads", "--rate", "200", "-o", str(raw), "--"]
    async with databases.fresh() as url:
        result = await ingest(servers, url, source.path, logs=logs, label="profile", wrap=wrap)
    return {
        "file": str(raw),
        "rows_per_second_under_profiler": result.rate,
        **summarise_profile(raw),
    }


def summarise_profile(raw: Path, top: int = 25) -> dict[str, Any]:
    """From py-spy's collapsed stacks: sample shares per thread, per package (by the frame that
    was running), per function (self), and per project function (inclusive)."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    threads: dict[str, int] = {}
    packages: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        thread = frames[0] if frames[0].startswith("thread") else "?"
        threads[thread] = threads.get(thread, 0) + count
        leaf = frames[-1]
        packages[_package(leaf)] = packages.get(_package(leaf), 0) + count
        own[_short(leaf)] = own.get(_short(leaf), 0) + count
        for frame in {_short(f) for f in frames if _package(f) == "project"}:
            inclusive[frame] = inclusive.get(frame, 0) + count

    def ranked(table: dict[str, int], limit: int = top) -> list[tuple[str, float]]:
        best = sorted(table.items(), key=lambda kv: -kv[1])[:limit]
        return [(name, round(count / max(total, 1), 4)) for name, count in best]

    return {
        "samples": total,
        "threads": ranked(threads),
        "packages": ranked(packages, 15),
        "self": ranked(own),
        "inclusive_project": ranked(inclusive),
    }


_FRAME = re.compile(r"^(.*) \((.*?):\d+\)$")


# Leaves where a thread waits rather than works (idle pool threads, the event loop's poll).
_WAITING = {"_worker", "EpollSelector.select", "select", "Condition.wait", "wait"}


def _package(frame: str) -> str:
    """Who a frame belongs to: `project`, a distribution (`sqlalchemy`), `stdlib`, `asyncio`.
    py-spy shortens paths to the import root (`src/infra/x.py`, `sqlalchemy/orm/y.py`)."""
    match = _FRAME.match(frame)
    if not match:
        return "(thread root)"
    if match.group(1) in _WAITING:
        return "(waiting)"
    path = match.group(2)
    if path.startswith("<frozen"):
        return "imports"
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/lib/python3" in path:
        path = path.split("/lib/python3", 1)[1].split("/", 1)[-1]
    top = Path(path).parts[0].removesuffix(".py") if Path(path).parts else path
    if top in ("src", "workers", "configs", "tests"):
        return "project"
    if top == "asyncio":
        return "asyncio"
    return "stdlib" if top in sys.stdlib_module_names else top


def _short(frame: str) -> str:
    """`func (path/to/module.py:12)` -> `func (to/module.py)`: lines merged per function."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    name, path = match.groups()
    parts = Path(path).parts
    where = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{name} ({where})"


# --- output ----------------------------------------------------------------------------------


def _idle_worker(workers: list[dict[str, Any]]) -> bool:
    """A worker that ran no job, or used under a sixth of the busiest one's CPU time."""
    cpu = [w["cpu_seconds"] or 0.0 for w in workers]
    return any(not w["jobs_started"] for w in workers) or min(cpu) < max(cpu) / 6


def _ratio(top: Case, bottom: Case) -> float | None:
    if top.median is None or bottom.median is None or bottom.median == 0:
        return None
    return top.median / bottom.median


def report(
    args: argparse.Namespace,
    info: dict[str, Any],
    base: Source,
    changed: Source,
    big: Source | None,
    cases: dict[str, Case],
    big_result: IngestResult | dict[str, Any] | None,
    profile: dict[str, Any] | None,
    problems: list[str],
    failures: list[str],
    logs: Path,
    naive_rows: int,
) -> dict[str, Any]:
    a, b, c, d, e = (cases[k] for k in "abcde")
    ratios = {"c/a": _ratio(c, a), "d/a": _ratio(d, a), "e/a": _ratio(e, a), "c/b": _ratio(c, b)}
    targets: dict[str, dict[str, Any]] = {}
    for key, goal in TARGETS.items():
        value = ratios[key]
        met = None if value is None else value >= goal
        targets[key] = {"value": value, "target": f">= {goal:g}", "met": met}
    if isinstance(big_result, IngestResult):
        f_detail: dict[str, Any] | None = ingest_detail(big_result)
    else:
        f_detail = big_result  # None, or what was sampled before the run failed
    rss = f_detail["peak_rss_mb"] if f_detail else None
    targets["f"] = {
        "value": rss,
        "target": f"< {RSS_TARGET_MB:g} MB",
        "met": None if rss is None else rss < RSS_TARGET_MB,
    }
    idle = None
    if cases["g2"].details:
        idle = sum(1 for detail in cases["g2"].details if _idle_worker(detail["workers"]))
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **info,
        "parameters": {
            "tenders": base.tenders,
            "procedures": base.procedures,
            "source_mb": base.bytes / MB,
            "seed": args.seed,
            "repeat": args.repeat,
            "naive_rows": naive_rows,
            "change_fraction": args.change_fraction,
            "changed_tenders": changed.changed_tenders,
            "big_mb": big.bytes / MB if big else None,
            "big_tenders": big.tenders if big else None,
        },
        "cases": {
            key: {
                "title": case.title,
                "rows": case.rows,
                "rows_per_second": case.median,
                "runs": case.runs,
                "details": case.details,
                **case.extra,
            }
            for key, case in cases.items()
        },
        "f": f_detail,
        "ratios": ratios,
        "targets": targets,
        "g2_idle_workers": idle,
        "profile": profile,
        "problems": problems,
        "failures": failures,
        "logs": str(logs),
    }


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render_text(results: dict[str, Any]) -> str:
    p, m, s = results["parameters"], results["machine"], results["servers"]
    cases = results["cases"]
    lines = [
        f"tenders ingestion benchmark, {results['measured_at']}",
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, {m['os']}, "
        f"Python {m['python']}",
        f"servers ({s['kind']}): PostgreSQL {s['postgres']} {s['postgres_url']} "
        f"{s['postgres_settings']}; Redis {s['redis']} {s['redis_url']}",
        f"source: {p['tenders']:,} tenders (lots) in {p['procedures']:,} ANAC-like procedures, "
        f"{p['source_mb']:,.0f} MB, seed {p['seed']}; median of {p['repeat']}",
        "",
        f"{'case':<62} {'rows/s':>10}  {'runs (rows/s)':<26} notes",
    ]
    for key in ("a", "b", "c", "d", "e"):
        case = cases[key]
        runs = " ".join(f"{value:,.0f}" for value in case["runs"])
        note = ""
        if key == "b" and case["rows_per_second"]:
            note = (
                f"{p['tenders']:,} rows would take {p['tenders'] / case['rows_per_second']:,.0f} s"
            )
        if key in "cde" and case["details"]:
            job = statistics.median(d["job_rows_per_second"] for d in case["details"])
            rss = max(d["peak_rss_mb"] or 0 for d in case["details"])
            cpu = statistics.median(
                (d["workers"][0]["cpu_seconds"] or 0) / d["seconds"] for d in case["details"]
            )
            counts = case["details"][-1]
            note = (
                f"job only {job:,.0f}/s; worker CPU {cpu:.0%}; peak RSS {rss:,.0f} MB; "
                f"ins/upd/unch {counts['inserted']:,}/{counts['updated']:,}/{counts['unchanged']:,}"
            )
        lines.append(
            f"({key}) {case['title']:<58} {_n(case['rows_per_second']):>10}  {runs:<26} {note}"
        )
    f = results["f"]
    if f is not None:
        title = f"worker peak RSS on a {p['big_mb']:,.0f} MB file ({p['big_tenders']:,} tenders)"
        outcome = (
            f"the run FAILED: {f['failed'].splitlines()[0][:160]}"
            if f.get("failed")
            else f"ingested at {f['rows_per_second']:,.0f} rows/s"
        )
        lines.append(
            f"(f) {title:<58} {_n(f['peak_rss_mb']):>7} MB  {'(peak RSS, once)':<26} {outcome}"
        )
    else:
        lines.append("(f) skipped (--skip-big)")
    g2 = cases["g2"]
    c_rate = cases["c"]["rows_per_second"]
    g_note = ""
    if g2["details"]:
        cpus = [
            "/".join(f"{(w['cpu_seconds'] or 0):.0f}" for w in d["workers"]) for d in g2["details"]
        ]
        g_note = f"worker CPU s: {', '.join(cpus)}"
        jobs = "/".join(str(w["jobs_started"]) for w in g2["details"][-1]["workers"])
        g_note += f"; jobs per worker {jobs}"
        if results["g2_idle_workers"]:
            g_note += (
                f"; in {results['g2_idle_workers']} of {len(g2['details'])} runs one worker "
                "(nearly) idled: the source was not shared"
            )
    lines.append(f"(g) 1 worker = (c){'':<44} {_n(c_rate):>10}")
    runs = " ".join(f"{value:,.0f}" for value in g2["runs"])
    lines.append(
        f"(g) 2 workers, one source{'':<37} {_n(g2['rows_per_second']):>10}  {runs:<26} {g_note}"
    )
    lines += ["", f"{'ratio':<8} {'value':>10}  {'target':<10} met"]
    for key in ("c/a", "d/a", "e/a", "c/b"):
        value = results["ratios"][key]
        target = results["targets"].get(key)
        lines.append(
            f"{key:<8} {_n(value, 2):>10}  {target['target'] if target else '':<10} "
            f"{_yes(target['met']) if target else ''}"
        )
    rss_target = results["targets"]["f"]
    lines.append(
        f"{'f (MB)':<8} {_n(rss_target['value'], 0):>10}  {rss_target['target']:<10} "
        f"{_yes(rss_target['met'])}"
    )
    if results["problems"]:
        lines += ["", "count checks that failed:", *(f"  {x}" for x in results["problems"])]
    if results["failures"]:
        lines += ["", "cases that FAILED (not in the figures):"]
        lines += [f"  {x[:300]}" for x in results["failures"]]
        lines.append(f"  worker logs: {results['logs']}")
    profile = results.get("profile")
    if profile:
        lines += ["", f"profile of one (c) worker (py-spy, {profile['samples']} samples):"]
        for title, key, limit in (
            ("threads", "threads", 5),
            ("running code, by package", "packages", 10),
            ("self, by function", "self", 15),
            ("inclusive, project functions", "inclusive_project", 20),
        ):
            lines.append(f"  {title}:")
            lines += [f"    {share:6.1%}  {name}" for name, share in profile[key][:limit]]
    return "\n".join(lines)


def _yes(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "NO")


def render_markdown(results: dict[str, Any]) -> str:
    """The table for the README."""
    p, m, s, cases = (
        results["parameters"],
        results["machine"],
        results["servers"],
        results["cases"],
    )
    f = results["f"]
    ratios = results["ratios"]

    def rate(key: str) -> str:
        return _n(cases[key]["rows_per_second"])

    rows = [
        ("(a) limit: COPY of the same rows into an empty copy of `tenders`", rate("a"), ""),
        (
            "(b) seed: `TenderService.create` + commit per row",
            rate("b"),
            f"on {p['naive_rows']:,} rows",
        ),
        (
            "(c) ours: enqueue → worker → committed, empty database",
            rate("c"),
            f"c/a {_n(ratios['c/a'], 2)} (target ≥ 0.5), c/b {_n(ratios['c/b'], 1)} (≥ 10)",
        ),
        ("(d) same source again, unchanged", rate("d"), f"d/a {_n(ratios['d/a'], 2)} (target ≥ 1)"),
        (
            f"(e) same source, {p['change_fraction']:.0%} of procedures changed",
            rate("e"),
            f"e/a {_n(ratios['e/a'], 2)}",
        ),
        (
            f"(f) worker peak RSS on a {_n(p['big_mb'])} MB file",
            (f"{_n(f['peak_rss_mb'])} MB" + (" (the run failed)" if f.get("failed") else ""))
            if f
            else "skipped",
            "target < 250 MB",
        ),
        (
            "(g) 2 worker processes, one source",
            rate("g2"),
            f"1 worker: {rate('c')}"
            + ("; the second worker (nearly) idled" if results["g2_idle_workers"] else ""),
        ),
    ]
    lines = [
        f"Measured {results['measured_at'][:10]} on {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB RAM; PostgreSQL {s['postgres']}, Redis {s['redis']} "
        f"({s['kind']}); {p['tenders']:,} tenders ({p['source_mb']:,.0f} MB), "
        f"median of {p['repeat']}.",
        "",
        "| case | rows/s | |",
        "|---|---:|---|",
        *(f"| {name} | {value} | {note} |" for name, value, note in rows),
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--tenders", type=int, default=100_000)
    parser.add_argument("--big-bytes", type=generate.parse_size, default=generate.parse_size("1G"))
    parser.add_argument("--skip-big", action="store_true", help="skip (f), the big file")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--markdown", type=Path, help="also write the README table here")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive-rows", type=int, default=2_000)
    parser.add_argument("--change-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=generate.DEFAULT_SEED)
    parser.add_argument("--work-dir", type=Path, default=ROOT / ".data" / "bench")
    parser.add_argument(
        "--profile", type=Path, help="one more (c) under py-spy; collapsed stacks to this path"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(run(args))
    text = render_text(results)
    print(text)
    args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2, default=str))
    log(f"wrote {args.json}")
    if args.markdown:
        args.markdown.write_text(render_markdown(results) + "\n")
        log(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
