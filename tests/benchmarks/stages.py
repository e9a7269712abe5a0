"""What the worker's CPU per tender is made of, measured in a process of its own on the
source's first lines, batch by batch as the worker goes, with the worker's tuning of the
garbage collector (best of a few rounds, before the cases): reading (each line cut and
digested, the reader thread's work), parsing, mapping (documents to records) and the
content hash of each record. (c)'s worker CPU per tender beside their sum leaves what only
the running worker pays: the COPY's encoding, the database protocol, the run's bookkeeping,
the reader thread taking turns with the event loop for the GIL, and colder caches than a
tight loop has. On a shared machine the figures move from day to day with the machine; the
sum's share of (c)'s CPU per tender moves much less."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from tests.benchmarks import project
from tests.benchmarks.measure import log
from tests.support.paths import ROOT

LINES = 5_000
BATCH_LINES = 650  # about the 1,000 tenders of one of the worker's batches
ROUNDS = 5
STAGES = ("read", "parse", "map", "hash")


def first_lines(path: Path, lines: int) -> list[bytes]:
    with path.open("rb") as stream:
        return list(itertools.islice(stream, lines))


def _round(batches: list[bytes], name: str) -> tuple[dict[str, float], int]:
    """One pass, batch by batch as the worker goes: its reader thread's work on a batch
    (lines cut and digested), then each line parsed, mapped and let go, then the content
    hash of each record (computed as the batch is written). Seconds per stage, tenders."""
    seconds = dict.fromkeys(STAGES, 0.0)
    tenders = 0
    clock = time.perf_counter
    for data in batches:
        started = clock()
        lines = project.unread_lines(data, name)
        seconds["read"] += clock() - started
        records: list[project.TenderRecord] = []
        for line in lines:
            started = clock()
            document = project.parse_line(line)
            parsed = clock()
            records += project.map_items((document,))
            seconds["parse"] += parsed - started
            seconds["map"] += clock() - parsed
        started = clock()
        for record in records:
            record.content_hash()
        seconds["hash"] += clock() - started
        tenders += len(records)
    return seconds, tenders


def stages_in_this_process(path: Path, lines: int, rounds: int) -> dict[str, Any]:
    """Microseconds a tender for each stage, the best of `rounds`, on `lines` lines, with
    the worker's tuning of the garbage collector."""
    project.tune_garbage_collector()
    head = first_lines(path, lines)
    batches = [b"".join(head[i : i + BATCH_LINES]) for i in range(0, len(head), BATCH_LINES)]
    best = dict.fromkeys(STAGES, float("inf"))
    tenders = 0
    for _ in range(rounds):
        seconds, tenders = _round(batches, path.name)
        best = {name: min(best[name], seconds[name]) for name in STAGES}
    per_tender = {name: best[name] / tenders * 1e6 for name in STAGES} if tenders else {}
    return {
        "lines": len(head),
        "tenders": tenders,
        "rounds": rounds,
        "us_per_tender": per_tender,
        "sum_us_per_tender": sum(per_tender.values()) if per_tender else None,
    }


def measure_stages(path: Path, lines: int = LINES, rounds: int = ROUNDS) -> dict[str, Any] | None:
    """The stages in a process of their own (a fresh heap, tuned as the worker's), before
    the cases; None, with the reason logged, when it fails."""
    log(f"stages: the first {lines:,} lines of {path.name}, best of {rounds}")
    command = [sys.executable, "-m", "tests.benchmarks.stages", str(path), str(lines), str(rounds)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, check=False, timeout=1800)
    if done.returncode != 0:
        log(f"stages failed: {done.stderr.decode(errors='replace')[-500:]}")
        return None
    figures: dict[str, Any] = orjson.loads(done.stdout)
    return figures


def render_lines(stages: dict[str, Any] | None, worker_cpu_ms_per_1000: float | None) -> list[str]:
    """The stages beside (c)'s worker CPU per tender (ms per 1,000 rows = µs a row)."""
    if not stages or not stages["us_per_tender"]:
        return []
    per = stages["us_per_tender"]
    parts = ", ".join(f"{name} {per[name]:,.1f}" for name in STAGES)
    line = (
        f"  in a process of their own, {stages['lines']:,} lines ({stages['tenders']:,} "
        f"tenders), best of {stages['rounds']}, µs a tender: {parts}; "
        f"sum {stages['sum_us_per_tender']:,.1f}"
    )
    lines = ["", "where (c)'s worker CPU goes:", line]
    if worker_cpu_ms_per_1000:
        rest = worker_cpu_ms_per_1000 - stages["sum_us_per_tender"]
        lines.append(
            f"  (c)'s worker: {worker_cpu_ms_per_1000:,.1f} µs a tender; the sum is "
            f"{stages['sum_us_per_tender'] / worker_cpu_ms_per_1000:.0%} of it, the other "
            f"{rest:,.1f} µs is the COPY, the protocol, bookkeeping and contention"
        )
    return lines


if __name__ == "__main__":
    figures = stages_in_this_process(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
    sys.stdout.buffer.write(orjson.dumps(figures))
