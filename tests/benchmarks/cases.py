"""The benchmark cases, each on a fresh copy of the migrated template database:

  (a) limit: asyncpg COPY of rows built beforehand, into an empty copy of `tenders`
  (b) the seed's naive path: TenderService.create and one commit per row
  (c) ours, end to end, into an empty database; (d) the same source again, unchanged;
  (e) the same source with some procedures changed             (c, d, e on one database,
      vacuumed after (c) as autovacuum would, untimed; each case's WAL is reported)
  (f) the worker's peak RSS on a big file                       (once)
  (g) (c) with 2 worker processes sharing one source: `tenders worker --processes 2 --burst`
  (h) one OCDS release of 5,000 lots, as (c)
  (j) (c) with 1,000 watches waiting: alert events matched and webhooks sent (alerts_case)
A case that breaks is reported, and the others still run."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from tests.benchmarks import alerts_case, profiling, project
from tests.benchmarks.measure import MB, ServerWatch, log, stopwatch
from tests.benchmarks.pipeline import IngestFailedError, IngestResult, ingest, ingest_detail
from tests.benchmarks.workspace import (
    Databases,
    Source,
    make_many_lots_source,
    make_shared_awards_source,
)
from tests.support.servers import Servers, plain_dsn

MANY_LOTS = 5_000  # (h): the lots of its one release
SHARED_AWARDS = (2_000, 200)  # (h2): the lots of its one release, and awards naming each


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

    def record(self, result: IngestResult) -> None:
        self.runs.append(result.rate)
        self.details.append(ingest_detail(result))


def make_cases(tenders: int, naive_rows: int, changed_tenders: int) -> dict[str, Case]:
    n = tenders
    lots, awards = SHARED_AWARDS
    return {
        "a": Case("a", "limit: asyncpg COPY into an empty copy of tenders", n),
        "b": Case("b", f"naive: TenderService.create + commit per row ({naive_rows:,})", n),
        "c": Case("c", "ours: enqueue -> worker -> committed, empty database", n),
        "d": Case("d", "same source again, unchanged", n),
        "e": Case("e", f"same source, {changed_tenders:,} tenders changed", n),
        "g2": Case("g2", "(c) with 2 worker processes: worker --processes 2", n),
        "h": Case("h", f"one release of {MANY_LOTS:,} lots, empty database", MANY_LOTS),
        "h2": Case(
            "h2",
            f"one release of {lots:,} lots, {awards} awards naming each",
            lots,
        ),
        "j": Case("j", f"(c) with {alerts_case.WATCHES:,} watches, webhooks delivered", n),
    }


@dataclass
class Outcome:
    """What the cases found: the figures, and what went wrong on the way."""

    cases: dict[str, Case]
    big_result: IngestResult | dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)  # counts that were not as expected
    failures: list[str] = field(default_factory=list)  # cases that broke
    naive_rows: int = 0

    def failed(self, label: str, error: BaseException) -> None:
        first_line = (str(error).splitlines() or [""])[0]
        self.failures.append(f"{label}: {type(error).__name__}: {first_line}")
        log(f"FAILED {label}: {error}")

    def check(self, label: str, result: IngestResult, **expected: int) -> None:
        problems = [
            f"{label}: {name} {getattr(result, name)} (expected {value})"
            for name, value in expected.items()
            if getattr(result, name) != value
        ]
        for problem in problems:
            log("CHECK " + problem)
        self.problems += problems


@dataclass
class Bench:
    """What every case runs on."""

    servers: Servers
    databases: Databases
    logs: Path
    outcome: Outcome
    worker_env: dict[str, str] = field(default_factory=dict)  # added to the deployed one
    postmaster: int | None = None  # a local PostgreSQL, whose CPU time is measured

    @property
    def cases(self) -> dict[str, Case]:
        return self.outcome.cases

    async def ingest(
        self,
        url: str,
        source: Source,
        label: str,
        processes: int = 1,
        extra_env: dict[str, str] | None = None,
        settled: Callable[[], Awaitable[bool]] | None = None,
    ) -> IngestResult:
        return await ingest(
            self.servers,
            url,
            source.path,
            processes=processes,
            logs=self.logs,
            label=label,
            env={**self.worker_env, **(extra_env or {})},
            postmaster=self.postmaster,
            settled=settled,
        )


# --- (a) and (b): rows built beforehand ------------------------------------------------------


async def tender_columns(url: str) -> list[tuple[str, bool, bool]]:
    """(name, nullable, has a default) of the tenders table, in table order."""
    connection = await asyncpg.connect(plain_dsn(url))
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


def build_rows(
    source: Source, columns: list[tuple[str, bool, bool]], naive_rows: int
) -> tuple[list[str], list[tuple[Any, ...]], list[project.TenderCreate]]:
    """The source read by the project's reader, as COPY tuples and as TenderCreate."""
    names: list[str] | None = None
    rows: list[tuple[Any, ...]] = []
    creates: list[project.TenderCreate] = []
    for record in project.read_records(source.path):
        values = project.record_values(record)
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
                    "teach tests/benchmarks/project.py:record_values about them"
                )
        rows.append(tuple(values[name] for name in names))
        if len(creates) < naive_rows:
            creates.append(project.as_create(record))
    return names or [], rows, creates


async def copy_limit(
    url: str, columns: list[str], rows: list[tuple[Any, ...]], postmaster: int | None = None
) -> tuple[float, dict[str, float | None]]:
    """(a): one COPY of all rows into an empty copy of tenders, indexes included: its seconds,
    the CPU seconds of the PostgreSQL backend that ran it (a local server's) and of this
    process, which encodes the rows (what bounds the COPY: the server or the client)."""
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        await connection.execute("CREATE TABLE bench_tenders_copy (LIKE tenders INCLUDING ALL)")
        server = ServerWatch(postmaster, urlsplit(url).path.lstrip("/"))
        server.sample()
        client_before = time.process_time()
        elapsed = stopwatch()
        await connection.copy_records_to_table("bench_tenders_copy", records=rows, columns=columns)
        seconds = elapsed()
        client = time.process_time() - client_before
        server.sample()
        copied = await connection.fetchval("SELECT count(*) FROM bench_tenders_copy")
        if copied != len(rows):
            raise RuntimeError(f"COPY wrote {copied} rows of {len(rows)}")
        cpu = {"postgres_cpu_seconds": server.cpu_seconds(), "client_cpu_seconds": client}
        return seconds, cpu
    finally:
        await connection.close()


async def naive_path(url: str, creates: list[project.TenderCreate]) -> float:
    """(b): seconds for TenderService.create + commit, one transaction per row."""
    async with project.one_commit_per_row(url) as create:
        elapsed = stopwatch()
        for data in creates:
            await create(data)
        return elapsed()


async def case_copy(bench: Bench, rep: int, names: list[str], rows: list[tuple[Any, ...]]) -> None:
    try:
        async with bench.databases.fresh() as url:
            seconds, cpu = await copy_limit(url, names, rows, bench.postmaster)
        bench.cases["a"].runs.append(bench.cases["a"].rows / seconds)
        bench.cases["a"].details.append({"seconds": seconds, **cpu})
    except Exception as error:  # noqa: BLE001 - reported, the bench goes on
        bench.outcome.failed(f"(a) round {rep}", error)


async def case_naive(bench: Bench, rep: int, creates: list[project.TenderCreate]) -> None:
    try:
        async with bench.databases.fresh() as url:
            seconds = await naive_path(url, creates)
        bench.cases["b"].runs.append(len(creates) / seconds)
        bench.cases["b"].details.append({"seconds": seconds, "rows": len(creates)})
    except Exception as error:  # noqa: BLE001
        bench.outcome.failed(f"(b) round {rep}", error)


# --- (c) to (g): the real path ---------------------------------------------------------------


async def cases_one_database(
    bench: Bench, rep: int, round_: str, base: Source, changed: Source, fraction: float
) -> None:
    """(c), then (d) and (e) on the database (c) filled."""
    n, check = base.tenders, bench.outcome.check
    key = "c"
    try:
        async with bench.databases.fresh() as url:
            log(f"{round_}: (c) ingest into an empty database")
            first = await bench.ingest(url, base, f"c{rep}")
            bench.cases["c"].record(first)
            check("(c)", first, inserted=n, updated=0, unchanged=0, tenders_in_db=n)
            await vacuum(url)
            key = "d"
            log(f"{round_}: (d) the same source again")
            again = await bench.ingest(url, base, f"d{rep}")
            bench.cases["d"].record(again)
            check("(d)", again, inserted=0, updated=0, unchanged=n)
            key = "e"
            log(f"{round_}: (e) {fraction:.0%} changed")
            moved = await bench.ingest(url, changed, f"e{rep}")
            bench.cases["e"].record(moved)
            check("(e)", moved, inserted=0, updated=changed.changed_tenders, tenders_in_db=n)
    except Exception as error:  # noqa: BLE001
        bench.outcome.failed(f"({key}) round {rep}", error)


async def vacuum(url: str) -> None:
    """What autovacuum does to a table after a load (hint bits, the visibility map, the
    planner's statistics), done before (d) and not timed: (d) and (e) then run on a loaded
    table as it settles, and the WAL (d) reports is its own (tests/ingest/test_wal.py does
    the same)."""
    log("VACUUM (ANALYZE) after (c), not timed")
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        await connection.execute("VACUUM (ANALYZE)")
    finally:
        await connection.close()


async def case_two_workers(bench: Bench, rep: int, base: Source) -> None:
    try:
        async with bench.databases.fresh() as url:
            pair = await bench.ingest(url, base, f"g{rep}", processes=2)
        bench.cases["g2"].record(pair)
        bench.outcome.check("(g)", pair, inserted=base.tenders, tenders_in_db=base.tenders)
    except Exception as error:  # noqa: BLE001
        bench.outcome.failed(f"(g) round {rep}", error)


async def case_many_lots(bench: Bench, rep: int, many: Source, key: str = "h") -> None:
    """(h): one procedure of many lots, as (c): the mapping's cost per lot stays flat; (h2):
    its awards each name every lot, and the lot's cost still does not grow with them."""
    try:
        async with bench.databases.fresh() as url:
            result = await bench.ingest(url, many, f"{key}{rep}")
        bench.cases[key].record(result)
        bench.outcome.check(f"({key})", result, inserted=many.tenders, tenders_in_db=many.tenders)
    except Exception as error:  # noqa: BLE001
        bench.outcome.failed(f"({key}) round {rep}", error)


async def case_big(bench: Bench, big: Source) -> None:
    """(f): once; when the run fails, the peak RSS sampled before is still reported."""
    log(f"(f) peak RSS on {big.bytes / MB:,.0f} MB ({big.tenders:,} tenders)")
    try:
        async with bench.databases.fresh() as url:
            result = await bench.ingest(url, big, "f")
        bench.outcome.big_result = result
        bench.outcome.check("(f)", result, inserted=big.tenders)
    except IngestFailedError as error:
        bench.outcome.failed("(f)", error)
        peaks = [w.peak_rss_mb for w in error.workers if w.peak_rss_mb is not None]
        bench.outcome.big_result = {"peak_rss_mb": max(peaks, default=None), "failed": str(error)}
    except Exception as error:  # noqa: BLE001
        bench.outcome.failed("(f)", error)


def chunk_env(args: argparse.Namespace) -> dict[str, str]:
    """--chunk-bytes: a smaller source split into as many chunks as the full one would be."""
    if args.chunk_bytes is None:
        return {}
    return {"CHUNK_BYTES": str(args.chunk_bytes), "CHUNK_MIN_BYTES": str(2 * args.chunk_bytes)}


# --- the run ---------------------------------------------------------------------------------


async def run_cases(
    servers: Servers,
    logs: Path,
    sources: tuple[Source, Source, Source | None],
    args: argparse.Namespace,
    postmaster: int | None = None,
) -> Outcome:
    """Every case, --repeat rounds of (a) to (e) and (g), then (f) and the profile, once."""
    base, changed, big = sources
    many = make_many_lots_source(args.work_dir.resolve(), MANY_LOTS)
    shared = make_shared_awards_source(args.work_dir.resolve(), *SHARED_AWARDS)
    databases = Databases(servers)
    cases = make_cases(base.tenders, args.naive_rows, changed.changed_tenders)
    bench = Bench(servers, databases, logs, Outcome(cases), chunk_env(args), postmaster)
    try:
        await databases.migrate_template()
        columns = await tender_columns(servers.database(databases.template))
        log(f"reading {base.path.name} with the project's reader to build the COPY tuples")
        names, rows, creates = build_rows(base, columns, args.naive_rows)
        bench.outcome.naive_rows = len(creates)
        cases["a"].extra["columns"] = names
        for rep in range(1, args.repeat + 1):
            round_ = f"round {rep}/{args.repeat}"
            log(f"{round_}: (a) COPY")
            await case_copy(bench, rep, names, rows)
            log(f"{round_}: (b) naive path on {len(creates):,} rows")
            await case_naive(bench, rep, creates)
            await cases_one_database(bench, rep, round_, base, changed, args.change_fraction)
            log(f"{round_}: (g) 2 workers on one source")
            await case_two_workers(bench, rep, base)
            log(f"{round_}: (h) one release of {many.tenders:,} lots")
            await case_many_lots(bench, rep, many)
            log(f"{round_}: (h2) {cases['h2'].title}")
            await case_many_lots(bench, rep, shared, "h2")
            if not args.skip_alerts:
                log(f"{round_}: (j) (c) with {alerts_case.WATCHES:,} watches")
                await alerts_case.case_watches(bench, rep, base)
        if big is not None:
            await case_big(bench, big)
        if args.profile:
            try:
                bench.outcome.profile = await profiling.profile_worker(
                    servers, databases, base.path, logs, args.profile
                )
            except Exception as error:  # noqa: BLE001
                bench.outcome.failed("profile", error)
    finally:
        await databases.drop_all()
    return bench.outcome
