"""Timing and process figures: a stopwatch, the peak RSS and CPU time of worker processes
(sampled with psutil while they run), the share of the machine's CPU that was busy, and what
the machine is."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

MB = 1_000_000


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def stopwatch() -> Callable[[], float]:
    """Started now; call it for the seconds since."""
    started = time.perf_counter()
    return lambda: time.perf_counter() - started


# --- worker processes ------------------------------------------------------------------------


@dataclass
class WorkerStats:
    pid: int
    returncode: int | None = None
    peak_rss_mb: float | None = None  # the highest RSS sampled while it ran
    cpu_seconds: float | None = None  # user + system, at the last sample
    jobs_started: int | None = None
    log: str = ""


class ProcessWatch:
    """One process sampled with psutil: the highest RSS seen and its latest CPU time."""

    def __init__(self, pid: int) -> None:
        try:
            self._process: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self._process = None  # gone already: nothing to sample

    def sample(self, stats: WorkerStats) -> None:
        if self._process is None:
            return
        with contextlib.suppress(psutil.Error):
            rss = self._process.memory_info().rss
            if rss:  # 0 for a process that has just exited
                stats.peak_rss_mb = max(stats.peak_rss_mb or 0.0, rss / MB)
        with contextlib.suppress(psutil.Error):
            cpu = self._process.cpu_times()
            stats.cpu_seconds = cpu.user + cpu.system


def first_child(pid: int) -> int | None:
    """The first child of a process (the worker a wrapper such as py-spy runs), if any."""
    try:
        children = psutil.Process(pid).children()
    except psutil.Error:
        return None
    return children[0].pid if children else None


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far; iowait counts as idle."""
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    total = sum(
        getattr(times, name, 0.0)
        for name in ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    )
    return total - idle, total


def busy_share(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    """The share of all cores that was busy between two machine_cpu() readings."""
    if after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


# --- the machine -----------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):  # the model name: psutil does not give it
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
