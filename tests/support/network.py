"""DNS and a network for tests of restricted fetches: addresses the test names (public ones,
say) lead to its local servers, every other address is unreachable, so no test traffic leaves
the machine; the resolver answers from a script and counts what it was asked."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpcore

from tests.support.api import FAKE_DNS

LOOPBACK = {"127.0.0.1", "::1"}


class ScriptedResolver:
    """`answers[host]` is a list of answers, one per call, the last repeated (a host that
    answers differently to a second question rebinds); other hosts as in FAKE_DNS."""

    def __init__(self, answers: Mapping[str, Sequence[Sequence[str]]] | None = None) -> None:
        self.answers = answers or {}
        self.asked: Counter[str] = Counter()

    def __call__(self, host: str) -> list[str]:
        self.asked[host] += 1
        script = self.answers.get(host)
        if script:
            return list(script[min(self.asked[host], len(script)) - 1])
        if host in FAKE_DNS:
            return FAKE_DNS[host]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


class LoopbackNetwork(httpcore.AsyncNetworkBackend):
    """Connections to loopback, or to an address in `routes`, reach 127.0.0.1 on the same
    port; anything else is unreachable. A routed connection reports the address it was asked
    for as its peer (as the real network would), unless `reveal_loopback`: then it reports
    where it really went (a connection rebound to loopback under the resolver's back)."""

    def __init__(self, routes: Iterable[str] = (), *, reveal_loopback: bool = False) -> None:
        self.routes = set(routes)
        self.reveal_loopback = reveal_loopback
        self.connects: list[tuple[str, int]] = []
        self._sockets = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        if host not in self.routes and host not in LOOPBACK:
            raise httpcore.ConnectError(f"{host} is unreachable from a test")
        stream = await self._sockets.connect_tcp(
            "127.0.0.1", port, timeout, local_address, socket_options
        )
        if host in LOOPBACK or self.reveal_loopback:
            return stream
        return _Routed(stream, (host, port))

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("no unix sockets in a test network")

    async def sleep(self, seconds: float) -> None:
        await self._sockets.sleep(seconds)


class _Routed(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream, peer: tuple[str, int]) -> None:
        self._stream = stream
        self._peer = peer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return await self._stream.start_tls(ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> Any:
        if info == "server_addr":
            return self._peer
        return self._stream.get_extra_info(info)
