"""The results: one JSON-ready dict, printed as a table and rendered as the README's markdown."""

from __future__ import annotations

import argparse
import os
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.benchmarks import alerts_case, api_case
from tests.benchmarks.cases import Case, Outcome
from tests.benchmarks.measure import MB
from tests.benchmarks.pipeline import IngestResult, ingest_detail
from tests.benchmarks.stages import render_lines as stages_lines
from tests.benchmarks.workspace import Source

# j/c: 1,000 watches slow a fresh ingest by at most 15%.
# The throughput issue's targets: fresh >= 0.5 x COPY, unchanged >= 2 x, 10% changed >= 0.75 x,
# and >= 20 x the seed's naive path; 1,000 watches cost a fresh ingest at most 15%.
TARGETS = {"c/a": 0.5, "d/a": 2.0, "e/a": 0.75, "c/b": 20.0, "j/c": 0.85}
RSS_TARGET_MB = 250.0
WAL_TARGET_MB = 1.0  # (d): WAL per 100,000 unchanged rows
SCALE_TARGET = 1.3  # (g) with 2 processes over (c)
HOST_CORES = 8  # the worker host the scale-out estimate is for (PostgreSQL elsewhere)


# --- the results -----------------------------------------------------------------------------


def _idle_worker(workers: list[dict[str, Any]]) -> bool:
    """A worker process that ran no job, or used under a sixth of the busiest one's CPU."""
    cpu = _process_cpu(workers)
    if len(cpu) < 2:
        return any(not w["jobs_started"] for w in workers)
    return min(cpu) < max(cpu) / 6


def _ratio(top: Case, bottom: Case) -> float | None:
    if top.median is None or bottom.median is None or bottom.median == 0:
        return None
    return top.median / bottom.median


def _by_round(top: Case, bottom: Case) -> list[float]:
    """Each round's ratio (both cases ran in the same minutes), when every round has both: the
    ratio of the medians can pair a fast round's COPY with a slow round's ingest."""
    if len(top.runs) != len(bottom.runs) or not all(bottom.runs):
        return []
    return [high / low for high, low in zip(top.runs, bottom.runs, strict=True)]


def _round_span(values: list[float]) -> str:
    """ "0.43-0.57" (or the one value) for a ratio's rounds; "" when there are none."""
    if not values:
        return ""
    low, high = min(values), max(values)
    return _n(low, 2) if len(values) == 1 else f"{_n(low, 2)}-{_n(high, 2)}"


def _wal_mb_per_100k(case: Case) -> float | None:
    """The median of a case's runs: MB of WAL per 100,000 rows (None: not measured)."""
    figures = [
        d["wal_bytes"] / MB * 100_000 / d["rows"]
        for d in case.details
        if d.get("wal_bytes") is not None and d.get("rows")
    ]
    return statistics.median(figures) if figures else None


def _targets(
    ratios: dict[str, float | None], f_detail: dict[str, Any] | None, d_wal: float | None
) -> dict[str, dict[str, Any]]:
    targets: dict[str, dict[str, Any]] = {}
    for key, goal in TARGETS.items():
        value = ratios[key]
        met = None if value is None else value >= goal
        targets[key] = {"value": value, "target": f">= {goal:g}", "met": met}
    rss = f_detail["peak_rss_mb"] if f_detail else None
    targets["f"] = {
        "value": rss,
        "target": f"< {RSS_TARGET_MB:g} MB",
        "met": None if rss is None else rss < RSS_TARGET_MB,
    }
    targets["d WAL"] = {
        "value": d_wal,
        "target": f"< {WAL_TARGET_MB:g} MB",
        "met": None if d_wal is None else d_wal < WAL_TARGET_MB,
    }
    return targets


def _parameters(
    args: argparse.Namespace, sources: tuple[Source, Source, Source | None], naive_rows: int
) -> dict[str, Any]:
    base, changed, big = sources
    return {
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
    }


def results(
    args: argparse.Namespace,
    info: dict[str, Any],
    sources: tuple[Source, Source, Source | None],
    outcome: Outcome,
    logs: Path,
    api: dict[str, Any] | None = None,
    stages: dict[str, Any] | None = None,
) -> dict[str, Any]:
    cases = outcome.cases
    a, b, c, d, e = (cases[k] for k in "abcde")
    ratios = {"c/a": _ratio(c, a), "d/a": _ratio(d, a), "e/a": _ratio(e, a), "c/b": _ratio(c, b)}
    ratios["j/c"] = _ratio(cases["j"], c)
    big_result = outcome.big_result
    if isinstance(big_result, IngestResult):
        f_detail: dict[str, Any] | None = ingest_detail(big_result)
    else:
        f_detail = big_result  # None, or what was sampled before the run failed
    idle = None
    if cases["g2"].details:
        idle = sum(1 for detail in cases["g2"].details if _idle_worker(detail["workers"]))
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **info,
        "parameters": _parameters(args, sources, outcome.naive_rows),
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
        "round_ratios": {"c/a": _by_round(c, a), "d/a": _by_round(d, a), "e/a": _by_round(e, a)},
        "targets": _targets(ratios, f_detail, _wal_mb_per_100k(d)),
        "g2_idle_workers": idle,
        "scale": scale_figures(cases["c"], cases["g2"], cases["a"]),
        "profile": outcome.profile,
        "stages": stages,
        "api": api,
        "problems": outcome.problems,
        "failures": outcome.failures,
        "logs": str(logs),
    }


def _per_process(case: Case) -> dict[str, Any] | None:
    """Medians over a case's runs: wall and CPU seconds per 1,000 rows, and how busy each
    worker process kept its core."""
    details = [d for d in case.details if d.get("worker_cpu_seconds")]
    if not details:
        return None
    processes = details[0].get("processes", 1)

    def median(values: list[float | None]) -> float | None:
        known = [value for value in values if value is not None]
        return statistics.median(known) if known else None

    pg = [d["postgres_cpu_seconds"] for d in details]
    return {
        "processes": processes,
        "rows_per_second": case.median,
        "worker_cpu_ms_per_1000_rows": median(
            [1e6 * d["worker_cpu_seconds"] / d["rows"] for d in details]
        ),
        "postgres_cpu_ms_per_1000_rows": median(
            [None if v is None else 1e6 * v / d["rows"] for v, d in zip(pg, details, strict=True)]
        ),
        "worker_core_share": median(
            [d["worker_cpu_seconds"] / d["seconds"] / processes for d in details]
        ),
        "postgres_cores": median(
            [None if v is None else v / d["seconds"] for v, d in zip(pg, details, strict=True)]
        ),
        "machine_busy": median([d["machine_cpu_busy"] for d in details]),
    }


def scale_figures(one: Case, two: Case, copy: Case | None = None) -> dict[str, Any]:
    """(g)/(c), and the estimate for a HOST_CORES-core worker host with PostgreSQL elsewhere:
    the worker is CPU-bound (one process keeps a core busy on a quiet machine), so one
    process per core, each at 1 / (its CPU per row) rows/s, and PostgreSQL needs that rate
    x its CPU per row, in cores. Per-row CPU, unlike rates, holds up on a busy machine
    (contention inflates it somewhat: the estimate errs low for the workers, high for
    PostgreSQL). `ceiling`: what this machine's cores allow at (g)'s CPU per row (workers
    and PostgreSQL), and so the highest (g)/(c) there is with this (c). `copy`: (a)'s CPU."""
    single, pair = _per_process(one), _per_process(two)
    ratio = _ratio(two, one)
    estimate = None
    figures = pair or single
    if figures and figures["worker_cpu_ms_per_1000_rows"]:
        rate = HOST_CORES * 1e6 / figures["worker_cpu_ms_per_1000_rows"]
        pg_ms = figures["postgres_cpu_ms_per_1000_rows"]
        estimate = {
            "host_cores": HOST_CORES,
            "processes": HOST_CORES,
            "rows_per_second": rate,
            "postgres_cores": None if pg_ms is None else rate * pg_ms / 1e6,
            "from": "(g)" if pair else "(c)",
        }
    return {
        "ratio": ratio,
        "target": SCALE_TARGET,
        "met": None if ratio is None else ratio >= SCALE_TARGET,
        "one": single,
        "two": pair,
        "estimate": estimate,
        "ceiling": _ceiling(pair, one.median),
        "copy": None if copy is None else _copy_cpu(copy),
    }


def _ceiling(pair: dict[str, Any] | None, one_rate: float | None) -> dict[str, Any] | None:
    """The rate at which (g)'s CPU per row (workers and PostgreSQL) fills every core."""
    cores = os.cpu_count()
    if pair is None or cores is None or pair["postgres_cpu_ms_per_1000_rows"] is None:
        return None
    per_row_ms = pair["worker_cpu_ms_per_1000_rows"] + pair["postgres_cpu_ms_per_1000_rows"]
    rate = cores * 1e6 / per_row_ms
    return {
        "cores": cores,
        "cpu_ms_per_1000_rows": per_row_ms,
        "rows_per_second": rate,
        "ratio": rate / one_rate if one_rate else None,
    }


def _copy_cpu(copy: Case) -> dict[str, float | None]:
    """(a)'s CPU per 1,000 rows, medians: the PostgreSQL backend's and the client's."""

    def median(key: str) -> float | None:
        known = [d[key] for d in copy.details if d.get(key) is not None]
        return 1e6 * statistics.median(known) / copy.rows if known else None

    return {
        "postgres_cpu_ms_per_1000_rows": median("postgres_cpu_seconds"),
        "client_cpu_ms_per_1000_rows": median("client_cpu_seconds"),
    }


def api_results(
    args: argparse.Namespace, info: dict[str, Any], base: Source, api: dict[str, Any], logs: Path
) -> dict[str, Any]:
    """--api-only: the API case alone."""
    parameters = {"tenders": base.tenders, "source_mb": base.bytes / MB, "repeat": args.repeat}
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **info,
        "parameters": parameters,
        "api": api,
        "logs": str(logs),
    }


# --- the table -------------------------------------------------------------------------------


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _yes(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "NO")


def _machine_lines(results: dict[str, Any]) -> list[str]:
    m, s = results["machine"], results["servers"]
    return [
        f"tenders benchmark, {results['measured_at']}",
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, {m['os']}, "
        f"Python {m['python']}",
        f"servers ({s['kind']}): PostgreSQL {s['postgres']} {s['postgres_url']} "
        f"{s['postgres_settings']}; Redis {s['redis']} {s['redis_url']}",
    ]


def _header(results: dict[str, Any]) -> list[str]:
    p = results["parameters"]
    return [
        *_machine_lines(results),
        f"source: {p['tenders']:,} tenders (lots) in {p['procedures']:,} ANAC-like procedures, "
        f"{p['source_mb']:,.0f} MB, seed {p['seed']}; median of {p['repeat']}",
        "",
        f"{'case':<62} {'rows/s':>10}  {'runs (rows/s)':<26} notes",
    ]


def _case_note(key: str, case: dict[str, Any], tenders: int) -> str:
    if key == "b" and case["rows_per_second"]:
        return f"{tenders:,} rows would take {tenders / case['rows_per_second']:,.0f} s"
    if key in "cde" and case["details"]:
        job = statistics.median(d["job_rows_per_second"] for d in case["details"])
        rss = max(d["peak_rss_mb"] or 0 for d in case["details"])
        cpu = statistics.median(
            (d["workers"][0]["cpu_seconds"] or 0) / d["seconds"] for d in case["details"]
        )
        counts = case["details"][-1]
        starts = [d["startup_seconds"] for d in case["details"] if d.get("startup_seconds")]
        wal = [d["wal_bytes"] for d in case["details"] if d.get("wal_bytes") is not None]
        wal_note = f"; WAL {statistics.median(wal) / MB:,.2f} MB" if wal else ""
        startup = (
            f"; worker start-up {statistics.median(starts):.1f} s (not timed)" if starts else ""
        )
        return (
            f"job only {job:,.0f}/s; worker CPU {cpu:.0%}; peak RSS {rss:,.0f} MB; "
            f"ins/upd/unch {counts['inserted']:,}/{counts['updated']:,}/{counts['unchanged']:,}"
            f"{wal_note}{startup}"
        )
    return ""


def _case_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    for key in ("a", "b", "c", "d", "e"):
        case = results["cases"][key]
        runs = " ".join(f"{value:,.0f}" for value in case["runs"])
        note = _case_note(key, case, results["parameters"]["tenders"])
        lines.append(
            f"({key}) {case['title']:<58} {_n(case['rows_per_second']):>10}  {runs:<26} {note}"
        )
    return lines


def _big_line(results: dict[str, Any]) -> str:
    p, f = results["parameters"], results["f"]
    if f is None:
        return "(f) skipped (--skip-big)"
    title = f"worker peak RSS on a {p['big_mb']:,.0f} MB file ({p['big_tenders']:,} tenders)"
    outcome = (
        f"the run FAILED: {f['failed'].splitlines()[0][:160]}"
        if f.get("failed")
        else f"ingested at {f['rows_per_second']:,.0f} rows/s"
    )
    return f"(f) {title:<58} {_n(f['peak_rss_mb']):>7} MB  {'(peak RSS, once)':<26} {outcome}"


def _process_cpu(workers: list[dict[str, Any]]) -> list[float]:
    """CPU seconds of each worker process: the children of a supervisor, or the workers."""
    children = [cpu for w in workers for cpu in (w.get("children_cpu") or {}).values()]
    return children or [w["cpu_seconds"] or 0.0 for w in workers]


def _two_workers_lines(results: dict[str, Any]) -> list[str]:
    g2 = results["cases"]["g2"]
    c_rate = results["cases"]["c"]["rows_per_second"]
    g_note = ""
    if g2["details"]:
        cpus = ["/".join(f"{cpu:.0f}" for cpu in _process_cpu(d["workers"])) for d in g2["details"]]
        g_note = f"worker CPU s: {', '.join(cpus)}"
        jobs = "/".join(str(w["jobs_started"]) for w in g2["details"][-1]["workers"])
        g_note += f"; jobs per worker {jobs}"
        if results["g2_idle_workers"]:
            g_note += (
                f"; in {results['g2_idle_workers']} of {len(g2['details'])} runs one worker "
                "(nearly) idled: the source was not shared"
            )
    runs = " ".join(f"{value:,.0f}" for value in g2["runs"])
    return [
        f"(g) 1 worker = (c){'':<44} {_n(c_rate):>10}",
        f"(g) worker --processes 2, one source{'':<26} {_n(g2['rows_per_second']):>10}  "
        f"{runs:<26} {g_note}",
    ]


def _ratio_lines(results: dict[str, Any]) -> list[str]:
    lines = ["", f"{'ratio':<8} {'value':>10}  {'target':<10} {'met':<4} by round"]
    rounds = results.get("round_ratios") or {}
    for key in ("c/a", "d/a", "e/a", "c/b", "j/c"):
        value = results["ratios"].get(key)
        target = results["targets"].get(key)
        each = " ".join(_n(v, 2) for v in rounds.get(key, []))
        lines.append(
            f"{key:<8} {_n(value, 2):>10}  {target['target'] if target else '':<10} "
            f"{_yes(target['met']) if target else '':<4} {each}".rstrip()
        )
    for key, label, digits in (("f", "f (MB)", 0), ("d WAL", "d WAL", 2)):
        target = results["targets"].get(key)
        if target is not None:
            lines.append(
                f"{label:<8} {_n(target['value'], digits):>10}  {target['target']:<10} "
                f"{_yes(target['met'])}"
            )
    lines.append("(d WAL: MB of WAL per 100,000 unchanged rows, the whole server's)")
    lines.append("(value: the ratio of the cases' medians; by round: each round's own ratio)")
    return lines


def _trouble_lines(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if results["problems"]:
        lines += ["", "count checks that failed:", *(f"  {x}" for x in results["problems"])]
    if results["failures"]:
        lines += ["", "cases that FAILED (not in the figures):"]
        lines += [f"  {x[:300]}" for x in results["failures"]]
        lines.append(f"  worker logs: {results['logs']}")
    return lines


def _profile_lines(profile: dict[str, Any] | None) -> list[str]:
    if not profile:
        return []
    lines = ["", f"profile of one (c) worker (py-spy, {profile['samples']} samples):"]
    for title, key, limit in (
        ("threads", "threads", 5),
        ("running code, by package", "packages", 10),
        ("self, by function", "self", 15),
        ("inclusive, project functions", "inclusive_project", 20),
    ):
        lines.append(f"  {title}:")
        lines += [f"    {share:6.1%}  {name}" for name, share in profile[key][:limit]]
    return lines


def _many_lots_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    for key in ("h", "h2"):
        case = results["cases"].get(key)
        if case is None:
            continue
        runs = " ".join(f"{value:,.0f}" for value in case["runs"])
        seconds = " ".join(f"{d['seconds']:,.1f}" for d in case["details"])
        label = f"({key}) {case['title']}"
        lines.append(
            f"{label:<62} {_n(case['rows_per_second']):>10}  {runs:<26} seconds: {seconds}"
        )
    return lines


def _process_line(label: str, figures: dict[str, Any] | None) -> str:
    if figures is None:
        return f"  {label}: no CPU figures"
    return (
        f"  {label}: {_n(figures['rows_per_second'])} rows/s; per 1,000 rows "
        f"{_n(figures['worker_cpu_ms_per_1000_rows'])} ms worker CPU, "
        f"{_n(figures['postgres_cpu_ms_per_1000_rows'])} ms PostgreSQL CPU; each worker "
        f"process {_n(100 * figures['worker_core_share'])}% of a core, PostgreSQL "
        f"{_n(figures['postgres_cores'], 2)} cores; machine busy "
        f"{_n(100 * (figures['machine_busy'] or 0))}%"
    )


def _scale_lines(results: dict[str, Any]) -> list[str]:
    scale = results.get("scale")
    if not scale:
        return []
    lines = [
        "",
        f"scale-out: (g)/(c) {_n(scale['ratio'], 2)} (target >= {scale['target']:g}: "
        f"{_yes(scale['met'])})",
        _process_line("(c) 1 process  ", scale["one"]),
        _process_line("(g) 2 processes", scale["two"]),
    ]
    copy, ceiling = scale.get("copy"), scale.get("ceiling")
    if copy and copy["postgres_cpu_ms_per_1000_rows"] is not None:
        lines.append(
            f"  (a) COPY       : per 1,000 rows {_n(copy['postgres_cpu_ms_per_1000_rows'])} ms "
            f"PostgreSQL CPU, {_n(copy['client_cpu_ms_per_1000_rows'])} ms client CPU"
        )
    if ceiling:
        lines.append(
            f"  ceiling here: {ceiling['cores']} cores / {_n(ceiling['cpu_ms_per_1000_rows'])} ms "
            f"of CPU per 1,000 rows ((g)'s, workers and PostgreSQL) = "
            f"{_n(ceiling['rows_per_second'])} rows/s, so (g)/(c) <= "
            f"{_n(ceiling['ratio'], 2)} with this (c)"
        )
    estimate = scale["estimate"]
    if estimate:
        lines.append(
            f"  estimate, {estimate['host_cores']}-core worker host, PostgreSQL elsewhere "
            f"(from {estimate['from']}'s CPU per row): --processes {estimate['processes']}, "
            f"about {_n(estimate['rows_per_second'])} rows/s, if PostgreSQL has "
            f"{_n(estimate['postgres_cores'], 1)} cores for it"
        )
    busy = [f["machine_busy"] for f in (scale["one"], scale["two"]) if f]
    if any((share or 0) > 0.9 for share in busy):
        lines.append(
            "  NOTE: the machine's cores were (nearly) all busy: other work competed, rates "
            "and the (g)/(c) ratio are not a quiet machine's; per-row CPU is inflated"
        )
    return lines


def render_text(results: dict[str, Any]) -> str:
    if "cases" not in results:  # --api-only
        p = results["parameters"]
        source = f"source: {p['tenders']:,} tenders, {p['source_mb']:,.0f} MB"
        return "\n".join([*_machine_lines(results), source, *api_case.render_lines(results["api"])])
    lines = [*_header(results), *_case_lines(results), _big_line(results)]
    lines += _two_workers_lines(results)
    lines += _scale_lines(results)
    one = (results.get("scale") or {}).get("one") or {}
    lines += stages_lines(results.get("stages"), one.get("worker_cpu_ms_per_1000_rows"))
    lines += _many_lots_lines(results)
    lines += alerts_case.render_lines(results)
    lines += _ratio_lines(results)
    lines += api_case.render_lines(results.get("api"))
    lines += _trouble_lines(results)
    lines += _profile_lines(results.get("profile"))
    return "\n".join(lines)


# --- the README's markdown -------------------------------------------------------------------


def _markdown_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    p, cases, f, ratios = (
        results["parameters"],
        results["cases"],
        results["f"],
        results["ratios"],
    )
    rounds = results.get("round_ratios") or {}

    def rate(key: str) -> str:
        return _n(cases[key]["rows_per_second"])

    def span(key: str) -> str:
        each = _round_span(rounds.get(key, []))
        return f", by round {each}" if each and len(rounds[key]) > 1 else ""

    return [
        ("(a) limit: COPY of the same rows into an empty copy of `tenders`", rate("a"), ""),
        (
            "(b) seed: `TenderService.create` + commit per row",
            rate("b"),
            f"on {p['naive_rows']:,} rows",
        ),
        (
            "(c) ours: enqueue → worker → committed, empty database",
            rate("c"),
            f"c/a {_n(ratios['c/a'], 2)} (target ≥ 0.5{span('c/a')}), "
            f"c/b {_n(ratios['c/b'], 1)} (≥ 20)",
        ),
        (
            "(d) same source again, unchanged",
            rate("d"),
            f"d/a {_n(ratios['d/a'], 2)} (target ≥ 2{span('d/a')}); WAL "
            f"{_n(results['targets']['d WAL']['value'], 2)} MB per 100,000 rows (< 1)",
        ),
        (
            f"(e) same source, {p['change_fraction']:.0%} of procedures changed",
            rate("e"),
            f"e/a {_n(ratios['e/a'], 2)} (target ≥ 0.75{span('e/a')})",
        ),
        (
            f"(f) worker peak RSS on a {_n(p['big_mb'])} MB file",
            (f"{_n(f['peak_rss_mb'])} MB" + (" (the run failed)" if f.get("failed") else ""))
            if f
            else "skipped",
            "target < 250 MB",
        ),
        (
            "(g) `tenders worker --processes 2`, one source",
            rate("g2"),
            f"g/c {_n(results['scale']['ratio'], 2)} (target ≥ 1.3)"
            + ("; the second worker (nearly) idled" if results["g2_idle_workers"] else ""),
        ),
        (f"(h) {cases['h']['title']}", rate("h"), "the mapping's cost per lot stays flat"),
        (
            f"(h2) {cases['h2']['title']}",
            rate("h2"),
            "each set of awards read once, not once a lot",
        ),
        (
            f"(j) {cases['j']['title']}",
            rate("j"),
            f"j/c {_n(ratios.get('j/c'), 2)} (target ≥ 0.85); " + alerts_case.summary(results),
        ),
    ]


def render_markdown(results: dict[str, Any]) -> str:
    """The table for the README."""
    p, m, s = results["parameters"], results["machine"], results["servers"]
    if "cases" not in results:  # --api-only
        return "\n".join(api_case.render_markdown(results["api"])).strip()
    lines = [
        f"Measured {results['measured_at'][:10]} on {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB RAM; PostgreSQL {s['postgres']}, Redis {s['redis']} "
        f"({s['kind']}); {p['tenders']:,} tenders ({p['source_mb']:,.0f} MB), "
        f"median of {p['repeat']}.",
        "",
        "| case | rows/s | |",
        "|---|---:|---|",
        *(f"| {name} | {value} | {note} |" for name, value, note in _markdown_rows(results)),
        *api_case.render_markdown(results.get("api")),
    ]
    return "\n".join(lines)
