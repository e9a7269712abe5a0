"""The load generator of the API case: N clients on one httpx AsyncClient (keep-alive), each
sending its next request as soon as the last is answered, for a fixed time. It runs in the
bench's own process, and its CPU is reported beside the API's: on a machine of two cores
the client and the server share them, so a client that costs as much as the server halves
what the server can show."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil

WARM_UP_SECONDS = 1.0


@dataclass
class LoadResult:
    clients: int
    seconds: float
    requests: int
    statuses: dict[int, int]
    latencies_ms: list[float] = field(repr=False)
    api_cpu_seconds: float
    client_cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def detail(self) -> dict[str, Any]:
        per_request = 1000 / max(1, self.requests)
        return {
            "clients": self.clients,
            "seconds": self.seconds,
            "requests": self.requests,
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
            "requests_per_second": self.rate,
            "p50_ms": self.percentile(0.50),
            "p99_ms": self.percentile(0.99),
            "mean_ms": statistics.fmean(self.latencies_ms) if self.latencies_ms else None,
            "api_cpu_ms_per_request": self.api_cpu_seconds * per_request,
            "client_cpu_ms_per_request": self.client_cpu_seconds * per_request,
            "api_cpu_share": self.api_cpu_seconds / self.seconds,
        }


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def _client(
    http: httpx.AsyncClient,
    paths: Callable[[], str],
    until: float,
    latencies: list[float],
    statuses: Counter[int],
) -> None:
    while time.perf_counter() < until:
        started = time.perf_counter()
        response = await http.get(paths())
        latencies.append((time.perf_counter() - started) * 1000)
        statuses[response.status_code] += 1


async def _run(
    http: httpx.AsyncClient, paths: Callable[[], str], clients: int, seconds: float
) -> tuple[list[float], Counter[int]]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    until = time.perf_counter() + seconds
    async with asyncio.TaskGroup() as group:
        for _ in range(clients):
            group.create_task(_client(http, paths, until, latencies, statuses))
    return latencies, statuses


async def load(
    base_url: str,
    token: str,
    paths: Callable[[], str],
    *,
    clients: int,
    seconds: float,
    api_pid: int,
) -> LoadResult:
    """`clients` concurrent clients asking for `paths()` for `seconds` (after a short warm-up
    that opens the connections and fills the API's pools, not counted)."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    api, me = psutil.Process(api_pid), psutil.Process()
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30
    ) as http:
        await _run(http, paths, clients, WARM_UP_SECONDS)
        api_before, me_before = _cpu(api), _cpu(me)
        started = time.perf_counter()
        latencies, statuses = await _run(http, paths, clients, seconds)
        elapsed = time.perf_counter() - started
        api_cpu, client_cpu = _cpu(api) - api_before, _cpu(me) - me_before
    return LoadResult(
        clients=clients,
        seconds=elapsed,
        requests=len(latencies),
        statuses=dict(statuses),
        latencies_ms=latencies,
        api_cpu_seconds=api_cpu,
        client_cpu_seconds=client_cpu,
    )


def cycle(items: list[str]) -> Callable[[], str]:
    """The items one after the other, round and round."""
    return itertools.cycle(items).__next__
