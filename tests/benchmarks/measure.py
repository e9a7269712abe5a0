"""Timing and process figures: a stopwatch, the peak RSS and CPU time of worker processes
(sampled with psutil while they run), the share of the machine's CPU that was busy, the WAL
a PostgreSQL server wrote, and what the machine is."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from tests.support.servers import plain_dsn

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
    cpu_seconds: float | None = None  # user + system, at the last sample (its children too)
    jobs_started: int | None = None
    log: str = ""
    # with children (`worker --processes N`): each child's CPU seconds, by pid
    children_cpu: dict[str, float] = field(default_factory=dict)


class ProcessWatch:
    """One process and its children (the workers of `worker --processes N`), sampled with
    psutil: the highest RSS of one of them, and the CPU time of each at its last sample (a
    child that exits keeps its last figure)."""

    CHILDREN_EVERY = 20  # samples between two looks for new children

    def __init__(self, pid: int) -> None:
        try:
            self._process: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self._process = None  # gone already: nothing to sample
        self._children: list[psutil.Process] = []
        self._samples = 0
        self._spent_before: dict[int, float] = {}  # CPU seconds not counted, by pid

    def baseline(self) -> None:
        """What the process and its children have spent so far (a warm worker's start-up)
        is left out of every figure sampled after."""
        if self._process is None:
            return
        with contextlib.suppress(psutil.Error):
            for process in (self._process, *self._process.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    cpu = process.cpu_times()
                    self._spent_before[process.pid] = float(cpu.user + cpu.system)

    def sample(self, stats: WorkerStats) -> None:
        if self._process is None:
            return
        if self._samples % self.CHILDREN_EVERY == 0:
            with contextlib.suppress(psutil.Error):
                self._children = self._process.children(recursive=True)
        self._samples += 1
        own = _sample_one(self._process, stats)
        if own is not None:
            own -= self._spent_before.get(self._process.pid, 0.0)
            stats.cpu_seconds = own
        for child in self._children:
            cpu = _sample_one(child, stats)
            if cpu is not None:
                stats.children_cpu[str(child.pid)] = cpu - self._spent_before.get(child.pid, 0.0)
        if stats.children_cpu:
            stats.cpu_seconds = (own or 0.0) + sum(stats.children_cpu.values())


def _sample_one(process: psutil.Process, stats: WorkerStats) -> float | None:
    """Notes the process's RSS in the peak; its CPU seconds, or None when it is gone."""
    with contextlib.suppress(psutil.Error):
        rss = process.memory_info().rss
        if rss:  # 0 for a process that has just exited
            stats.peak_rss_mb = max(stats.peak_rss_mb or 0.0, rss / MB)
    with contextlib.suppress(psutil.Error):
        cpu = process.cpu_times()
        return float(cpu.user + cpu.system)
    return None


class ServerWatch:
    """The CPU seconds of a local PostgreSQL's backends connected to one database (other
    databases' backends on a shared server, and the server's own processes, are left out),
    sampled now and then: a backend that started after the first sample counts from zero,
    one that exits keeps its last figure."""

    def __init__(self, postmaster: int | None, database: str) -> None:
        self._postmaster: psutil.Process | None = None
        if postmaster is not None:
            with contextlib.suppress(psutil.Error):
                self._postmaster = psutil.Process(postmaster)
        # a backend's process title: "postgres: 15/main: <user> <database> <client> <state>"
        self._title = f" {database} "
        self._ours: dict[int, bool] = {}
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._started = False

    def _is_ours(self, process: psutil.Process) -> bool:
        if process.pid not in self._ours:
            self._ours[process.pid] = self._title in " ".join(process.cmdline()) + " "
        return self._ours[process.pid]

    def sample(self) -> None:
        if self._postmaster is None:
            return
        children: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            children = self._postmaster.children()
        for process in children:
            with contextlib.suppress(psutil.Error):
                if not self._is_ours(process):
                    continue
                cpu = process.cpu_times()
                seconds = float(cpu.user + cpu.system)
                self._first.setdefault(process.pid, seconds if not self._started else 0.0)
                self._last[process.pid] = seconds
        self._started = True

    def cpu_seconds(self) -> float | None:
        if self._postmaster is None:
            return None
        return sum(self._last[pid] - self._first[pid] for pid in self._last)


class WalWatch:
    """The WAL a PostgreSQL server writes between `start` and `written`: the whole server's
    (every database, autovacuum included), so a case keeps the server to itself; None where
    the server does not say (a standby, a role without the right)."""

    def __init__(self, url: str) -> None:
        self._dsn = plain_dsn(url)
        self._start: str | None = None

    async def _fetch(self, sql: str, *args: Any) -> Any:
        try:
            connection = await asyncpg.connect(self._dsn)
            try:
                return await connection.fetchval(sql, *args)
            finally:
                await connection.close()
        except (OSError, asyncpg.PostgresError) as error:
            log(f"WAL not measured: {error}")
            return None

    async def start(self) -> None:
        self._start = await self._fetch("SELECT pg_current_wal_lsn()::text")

    async def written(self) -> int | None:
        if self._start is None:
            return None
        diff = await self._fetch(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)", self._start
        )
        return None if diff is None else int(diff)


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
