"""HTTP for restricted sources (named through the API or as feeds): every connection, the
first and each redirect's, goes to an address the source policy has checked.

Checking a URL and then letting the HTTP client connect by name resolves the host twice: a
host that answers a public address to the check and a private one to the connect (DNS
rebinding) would pass. Here the host is resolved once, every address is checked, the socket
connects to a checked address, and the peer it reached is checked again. The request keeps
its Host header, and TLS its server name and certificate check, on the original name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from configs.config import Settings
from src.infra.source_policy import (
    Resolver,
    SourceNotAllowed,
    check_address,
    checked_addresses,
    system_resolver,
)

SocketOption = Any  # httpcore's SOCKET_OPTION: a tuple for setsockopt


class PolicyNetwork(httpcore.AsyncNetworkBackend):
    """Opens TCP connections for restricted fetches only to addresses the policy allows."""

    def __init__(
        self,
        settings: Settings,
        resolve: Resolver = system_resolver,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._settings = settings
        self._resolve = resolve
        self._network = network or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await asyncio.to_thread(checked_addresses, host, self._settings, self._resolve)
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = await self._network.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error  # the next address may answer, as a resolver's order intends
                continue
            try:
                self._check_peer(host, stream)
            except SourceNotAllowed:
                await stream.aclose()
                raise
            return stream
        raise failure or httpcore.ConnectError(f"{host} has no address to connect to")

    def _check_peer(self, host: str, stream: httpcore.AsyncNetworkStream) -> None:
        """The address the socket actually reached, checked as the answers were."""
        peer = stream.get_extra_info("server_addr")
        address = peer[0] if isinstance(peer, tuple) and peer else None
        if not isinstance(address, str):
            if self._settings.allow_private_sources:
                return
            raise SourceNotAllowed(f"the address {host} connected to cannot be checked")
        check_address(host, address.split("%", 1)[0], self._settings)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise SourceNotAllowed("restricted sources are fetched over TCP only, never a socket")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


class PolicyTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request and response handling, TLS, keep-alive) on a connection
    pool whose network is `PolicyNetwork`. No proxy: a proxy would connect by name itself."""

    def __init__(
        self,
        settings: Settings,
        resolve: Resolver = system_resolver,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=PolicyNetwork(settings, resolve, network),
        )
