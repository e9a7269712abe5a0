"""(i) The read API under load: one API process (uvicorn on the app's import string, as
`tenders api` serves it, access log off) on a database of the source's tenders, and the
load generator of `api_load` in the bench's process. The database is filled with a COPY of
the rows the project's reader makes of the source (created_at one millisecond apart, as a
long run of ingests leaves them), then ANALYZEd: the worker's speed is measured elsewhere.

  (i1) GET /tenders/by-cig/{cig}, one client (sequential), CIGs taken at random
  (i2) the same with 32 concurrent clients
  (i3) GET /tenders?cpv=45&limit=50 (a page of 50), 32 concurrent clients

Each for --api-seconds, --repeat times, interleaved; req/s, p50/p99 latency, CPU per request
of the API process and of the load generator. Authentication and the Redis rate limit run
on every request as deployed; the bucket is made big enough never to refuse one.
--api-baseline DIR serves the same cases from another checkout too (the code before a
change), in the same run, on the same database."""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.benchmarks import project
from tests.benchmarks.api_load import cycle, load
from tests.benchmarks.cases import build_rows, tender_columns
from tests.benchmarks.measure import log
from tests.benchmarks.workspace import Databases, Source
from tests.support.paths import ROOT
from tests.support.polling import until
from tests.support.processes import deployed_worker_env
from tests.support.servers import Servers, free_port, plain_dsn

CONCURRENT = 32
LIST_PATH = "/tenders?cpv=45&limit=50"
SAMPLE_CIGS = 20_000
CASES = {
    "i1": ("GET /tenders/by-cig/{cig}, 1 client", 1),
    "i2": (f"GET /tenders/by-cig/{{cig}}, {CONCURRENT} clients", CONCURRENT),
    "i3": (f"GET {LIST_PATH}, {CONCURRENT} clients", CONCURRENT),
}
SUMMARY = ("requests_per_second", "p50_ms", "p99_ms", "api_cpu_ms_per_request")


@dataclass
class ApiServer:
    label: str
    base_url: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def api_server(label: str, root: Path, env: dict[str, str], logs: Path) -> Iterator[ApiServer]:
    """One API process serving the code under `root`, its output to logs/api-<label>.log."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", project.APP_FACTORY, "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    command += ["--no-server-header", "--proxy-headers"]
    with (logs / f"api-{label}.log").open("wb") as output:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield ApiServer(label, f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def healthy(server: ApiServer) -> bool:
    if server.process.poll() is not None:
        raise RuntimeError(f"the {server.label} API exited {server.process.returncode}")
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            return (await http.get("/healthz")).status_code == 200
    except httpx.TransportError:
        return False


async def fill(url: str, base: Source) -> None:
    """The source's tenders, COPYed into `tenders` with created_at 1 ms apart; ANALYZEd."""
    columns = await tender_columns(url)
    names, rows, _ = build_rows(base, columns, 0)
    first = datetime(2026, 1, 1, tzinfo=UTC)
    stamped = [
        (*row, at, at)
        for index, row in enumerate(rows)
        for at in (first + timedelta(milliseconds=index),)
    ]
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        await connection.copy_records_to_table(
            "tenders", records=stamped, columns=[*names, "created_at", "updated_at"]
        )
        await connection.execute("ANALYZE tenders")
    finally:
        await connection.close()


async def sample_cigs(url: str) -> list[str]:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        rows = await connection.fetch(
            "SELECT cig FROM tenders WHERE cig IS NOT NULL ORDER BY random() LIMIT $1",
            SAMPLE_CIGS,
        )
    finally:
        await connection.close()
    return [row["cig"] for row in rows]


async def check_answers(server: ApiServer, token: str, cig: str) -> None:
    """Before timing: a CIG is found and the page is full (else the figures mean nothing)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
        found = await http.get(f"/tenders/by-cig/{cig}")
        page = await http.get(LIST_PATH)
    if found.status_code != 200 or found.json()["cig"] != cig:
        raise RuntimeError(f"{server.label}: by-cig answered {found.status_code}")
    if page.status_code != 200 or len(page.json()["items"]) != 50:
        raise RuntimeError(f"{server.label}: {LIST_PATH} answered {page.status_code}")


def api_env(url: str, servers: Servers, entry: str) -> dict[str, str]:
    env = deployed_worker_env(url, servers.redis_url, f"bench-api:{uuid.uuid4().hex[:8]}")
    env.update(API_TOKENS=entry, API_RATE_PER_MINUTE="100000000", API_RATE_BURST="100000000")
    env.pop("API_INSECURE", None)
    return env


async def measure(
    bench_servers: list[ApiServer], token: str, cigs: list[str], args: argparse.Namespace
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every case on every server, --repeat rounds, interleaved."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        s.label: {key: [] for key in CASES} for s in bench_servers
    }
    by_cig = [f"/tenders/by-cig/{cig}" for cig in cigs]
    paths: dict[str, Callable[[], str]] = {
        "i1": cycle(by_cig),
        "i2": cycle(by_cig),
        "i3": cycle([LIST_PATH]),
    }
    for rep in range(1, args.repeat + 1):
        for server in bench_servers:
            for key, (title, clients) in CASES.items():
                log(f"(i) round {rep}/{args.repeat}, {server.label}: {title}")
                result = await load(
                    server.base_url,
                    token,
                    paths[key],
                    clients=clients,
                    seconds=args.api_seconds,
                    api_pid=server.process.pid,
                )
                runs[server.label][key].append(result.detail())
    return runs


async def run_api_case(
    servers: Servers, logs: Path, base: Source, args: argparse.Namespace
) -> dict[str, Any]:
    """(i): fill a database with `base` through the real path, then load the API."""
    databases = Databases(servers)
    token, entry = project.read_token()
    roots = [("ours", ROOT)]
    if args.api_baseline is not None:
        roots.insert(0, ("baseline", args.api_baseline.resolve()))
    try:
        await databases.migrate_template()
        async with databases.fresh() as url:
            log(f"(i) filling a database with {base.tenders:,} tenders (COPY)")
            await fill(url, base)
            cigs = await sample_cigs(url)
            random.Random(1).shuffle(cigs)
            with contextlib.ExitStack() as stack:
                started = [
                    stack.enter_context(api_server(label, root, api_env(url, servers, entry), logs))
                    for label, root in roots
                ]
                for server in started:
                    await until(partial(healthy, server), 60, f"the {server.label} API")
                    await check_answers(server, token, cigs[0])
                runs = await measure(started, token, cigs, args)
    finally:
        await databases.drop_all()
    return {
        "seconds_per_run": args.api_seconds,
        "cases": {key: title for key, (title, _) in CASES.items()},
        "servers": {label: str(root) for label, root in roots},
        "runs": runs,
        "medians": {
            label: {key: _medians(details) for key, details in cases.items()}
            for label, cases in runs.items()
        },
    }


def _medians(details: list[dict[str, Any]]) -> dict[str, float]:
    names = (*SUMMARY, "client_cpu_ms_per_request", "api_cpu_share")
    return {name: statistics.median(d[name] for d in details) for name in names}


def render_lines(api: dict[str, Any] | None) -> list[str]:
    """The API table: one line per case and server."""
    if not api:
        return []
    lines = [
        "",
        f"(i) read API, one process, {api['seconds_per_run']:g} s per run, median of "
        f"{len(next(iter(next(iter(api['runs'].values())).values())))}",
        f"{'case':<46} {'server':<9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'API CPU ms/req':>15} {'client CPU ms/req':>18}",
    ]
    for key, title in api["cases"].items():
        for label, cases in api["medians"].items():
            m = cases[key]
            lines.append(
                f"({key}) {title:<41} {label:<9} {m['requests_per_second']:>7,.0f} "
                f"{m['p50_ms']:>7.2f} {m['p99_ms']:>7.2f} {m['api_cpu_ms_per_request']:>15.2f} "
                f"{m['client_cpu_ms_per_request']:>18.2f}"
            )
    bad = {
        f"{label} {key}": code
        for label, cases in api["runs"].items()
        for key, details in cases.items()
        for d in details
        for code in d["statuses"]
        if code != "200"
    }
    if bad:
        lines.append(f"  answers other than 200: {bad}")
    return lines


def render_markdown(api: dict[str, Any] | None) -> list[str]:
    if not api:
        return []
    lines = [
        "",
        "| read API, one process | req/s | p50 ms | p99 ms | API CPU ms/req | client CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, title in api["cases"].items():
        for label, cases in api["medians"].items():
            m = cases[key]
            name = f"({key}) {title}" + (f" ({label})" if len(api["medians"]) > 1 else "")
            lines.append(
                f"| {name} | {m['requests_per_second']:,.0f} | {m['p50_ms']:.1f} | "
                f"{m['p99_ms']:.1f} | {m['api_cpu_ms_per_request']:.2f} | "
                f"{m['client_cpu_ms_per_request']:.2f} |"
            )
    return lines
