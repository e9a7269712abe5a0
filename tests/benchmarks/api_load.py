"""The load generator of the API case: N clients, each on its own keep-alive HTTP/1.1
connection, sending its next request as soon as the last is answered, for a fixed time. It
runs in the bench's own process, and its CPU is reported beside the API's: on a machine of
two cores the client and the server share them, so a client that costs as much as the
server halves what the server can show. That is why it speaks HTTP itself (a request line
and headers written once, a response read by its Content-Length): an httpx client cost
about 2 ms of CPU per request here, more than the API it measured."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


class _Connection:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads their answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, base_url: str) -> _Connection:
        host, _, port = base_url.removeprefix("http://").rstrip("/").partition(":")
        reader, writer = await asyncio.open_connection(host, int(port or 80))
        return cls(reader, writer)

    async def get(self, request: bytes) -> int:
        """Send one request (its bytes, whole); the answer's status, its body read."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = _content_length(head)
        if length:
            await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError(f"an answer without a Content-Length: {head[:200]!r}")


async def _client(
    connection: _Connection,
    requests: Callable[[], bytes],
    until: float,
    latencies: list[float],
    statuses: Counter[int],
) -> None:
    while time.perf_counter() < until:
        started = time.perf_counter()
        status = await connection.get(requests())
        latencies.append((time.perf_counter() - started) * 1000)
        statuses[status] += 1


async def _run(
    connections: list[_Connection], requests: Callable[[], bytes], seconds: float
) -> tuple[list[float], Counter[int]]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    until = time.perf_counter() + seconds
    async with asyncio.TaskGroup() as group:
        for connection in connections:
            group.create_task(_client(connection, requests, until, latencies, statuses))
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
    host = base_url.removeprefix("http://").rstrip("/")
    headers = f"Host: {host}\r\nAuthorization: Bearer {token}\r\nAccept: */*\r\n\r\n"

    def requests() -> bytes:
        return f"GET {paths()} HTTP/1.1\r\n{headers}".encode()

    api, me = psutil.Process(api_pid), psutil.Process()
    connections = [await _Connection.open(base_url) for _ in range(clients)]
    try:
        await _run(connections, requests, WARM_UP_SECONDS)
        api_before, me_before = _cpu(api), _cpu(me)
        started = time.perf_counter()
        latencies, statuses = await _run(connections, requests, seconds)
        elapsed = time.perf_counter() - started
        api_cpu, client_cpu = _cpu(api) - api_before, _cpu(me) - me_before
    finally:
        for connection in connections:
            await connection.close()
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
