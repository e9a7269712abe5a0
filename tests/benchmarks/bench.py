"""Ingestion throughput, side by side with the physical limit, on one machine in one run.

    python -m tests.benchmarks.bench [--tenders 100000] [--big-bytes 1G] [--skip-big]
                                     [--json bench-results.json] [--markdown FILE]
                                     [--chunk-bytes SIZE] [--quick]
                                     [--skip-api | --api-only] [--api-seconds 10]

--quick: a few minutes instead of an hour: 20,000 tenders, one round, no big file, 500 naive
rows, and the source split into 6 MiB chunks (CHUNK_BYTES; the full source's 32 MiB chunks
cut its 230 MB into 7, so the quick one's 46 MB is cut into about as many).

Servers: BENCH_DATABASE_URL (any database of the server: the bench creates and drops its own)
and BENCH_REDIS_URL; unset, the embedded ones under .data/ (as `make test` uses them).
Every case runs on a fresh database copied from one migrated to head (the final schema with
all its indexes), dropped afterwards. Cases, rows per second, median of --repeat (3):

  (a) limit: asyncpg COPY (copy_records_to_table) of the same rows, built beforehand as tuples
      by the project's own reader, into an empty `CREATE TABLE .. (LIKE tenders INCLUDING ALL)`
  (b) the seed's naive path: TenderService.create and one commit per row, on --naive-rows rows
  (c) ours, end to end: enqueue_ingest -> a `python -m src.cli worker` already polling (its
      start-up timed apart, stopped with SIGTERM once the run is complete) -> committed rows,
      timed from the enqueue to the run's finished_at (the last commit), into an empty database
  (d) the same source again, nothing changed        (same database, right after (c))
  (e) the same source with --change-fraction of the procedures changed   (after (d))
  (f) the worker's peak RSS while it ingests a --big-bytes file           (run once)
  (g) (c) with 1 worker (= (c)) and with `tenders worker --processes 2` (two worker
      processes sharing the source's chunks); the CPU seconds of the workers and of a local
      PostgreSQL, per case, give the figures for sizing N on another machine
  (h) (c) on one OCDS release of 5,000 lots (a procedure's lots are mapped in linear time)
  (h2) (c) on one OCDS release of 2,000 lots whose 200 awards each name every lot (each set
      of awards is read once per release, not once a lot)
  (i) the read API on the source's tenders: by CIG with 1 and 32 clients, a page of 50 with
      32 clients; req/s, p50/p99, CPU per request of the API and of the load generator
      (`--api-only --repeat 1 --api-seconds 5` runs just this, in about a minute)

Before the cases, the worker's stages (reading, parsing, mapping, content hashes) are timed
in a process of their own on the source's first lines, and printed beside (c)'s worker CPU
per tender.
Generated sources are cached under .data/bench/ (the generator is deterministic).
Worker RSS and CPU figures are sampled with psutil while the workers run.

The modules: cases (the cases and their run), pipeline (enqueue -> workers -> runs), measure
(timing, process figures), report (JSON, table, markdown), workspace (databases, sources),
profiling (--profile), stages (the worker's stages, timed apart), api_case and api_load (the
read API), project (all the bench takes from configs/ and src/).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from tests.benchmarks import report
from tests.benchmarks.api_case import run_api_case
from tests.benchmarks.cases import run_cases
from tests.benchmarks.measure import log, machine_info
from tests.benchmarks.stages import measure_stages
from tests.benchmarks.workspace import make_source, server_info
from tests.support import generators
from tests.support.paths import ROOT
from tests.support.servers import resolve_servers


async def run(args: argparse.Namespace) -> dict[str, Any]:
    servers = resolve_servers("BENCH_DATABASE_URL", "BENCH_REDIS_URL", ROOT / ".data")
    work: Path = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs" / datetime.now().strftime("%Y%m%d-%H%M%S")
    logs.mkdir(parents=True, exist_ok=True)
    info = {"machine": machine_info(), "servers": await server_info(servers)}
    log(f"servers: {info['servers']['postgres_url']} / {info['servers']['redis_url']}")

    base = make_source(work, tenders=args.tenders, seed=args.seed)
    if args.api_only:
        alone = await run_api_case(servers, logs, base, args)
        return report.api_results(args, info, base, alone, logs)
    changed = make_source(
        work, tenders=args.tenders, seed=args.seed, change_fraction=args.change_fraction
    )
    big = None if args.skip_big else make_source(work, max_bytes=args.big_bytes, seed=args.seed)
    sources = (base, changed, big)
    postmaster = info["servers"]["postmaster_pid"]
    stages = measure_stages(base.path)
    outcome = await run_cases(servers, logs, sources, args, postmaster)
    api: dict[str, Any] | None = None
    if not args.skip_api:
        try:
            api = await run_api_case(servers, logs, base, args)
        except Exception as error:  # noqa: BLE001 - reported, the ingest figures stand
            outcome.failed("(i)", error)
    return report.results(args, info, sources, outcome, logs, api, stages)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.bench", description=__doc__.split("\n\n")[0]
    )
    size = generators.parse_size
    parser.add_argument("--tenders", type=int, default=100_000)
    parser.add_argument("--big-bytes", type=size, default=size("1G"))
    parser.add_argument("--skip-big", action="store_true", help="skip (f), the big file")
    parser.add_argument("--skip-alerts", action="store_true", help="skip (j), the watches")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--markdown", type=Path, help="also write the README table here")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive-rows", type=int, default=2_000)
    parser.add_argument("--change-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=generators.DEFAULT_SEED)
    parser.add_argument("--work-dir", type=Path, default=ROOT / ".data" / "bench")
    parser.add_argument(
        "--profile", type=Path, help="one more (c) under py-spy; collapsed stacks to this path"
    )
    parser.add_argument(
        "--chunk-bytes", type=size, help="CHUNK_BYTES for the workers (default: theirs)"
    )
    parser.add_argument("--quick", action="store_true", help="a few minutes: see above")
    api = parser.add_mutually_exclusive_group()
    api.add_argument("--skip-api", action="store_true", help="skip (i), the read API")
    api.add_argument("--api-only", action="store_true", help="run (i) alone")
    parser.add_argument("--api-seconds", type=float, default=10, help="per (i) run")
    parser.add_argument(
        "--api-baseline",
        type=Path,
        help="another checkout of the project (the code before a change): (i) serves it too",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.tenders, args.repeat, args.skip_big, args.naive_rows = 20_000, 1, True, 500
        args.chunk_bytes = args.chunk_bytes or size("6M")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(run(args))
    print(report.render_text(results))
    args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2, default=str))
    log(f"wrote {args.json}")
    if args.markdown:
        args.markdown.write_text(report.render_markdown(results) + "\n")
        log(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
