"""The worker's client for restricted sources: each connection, redirects included, goes to
an address the source policy checked, resolved once, and reaches a public peer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from configs.config import Settings
from src.infra.source_policy import SourceNotAllowed
from tests.support.http_server import Publisher, Route, serve
from tests.support.network import LoopbackNetwork, ScriptedResolver
from workers.context import http_clients

PUBLIC = "93.184.215.14"  # what FAKE_DNS answers for feeds.example.org


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    routes = {
        "/feed.json": Route(b"[]"),
        "/to-intranet": Route(b"", status=302, headers={}),
        "/to-loopback": Route(b"", status=302, headers={}),
    }
    with serve(routes) as running:
        port = running.base_url.rsplit(":", 1)[1]
        running.routes["/to-intranet"].headers["Location"] = (
            f"http://intranet.example.org:{port}/feed.json"
        )
        running.routes["/to-loopback"].headers["Location"] = f"http://localhost:{port}/feed.json"
        yield running


def port_of(publisher: Publisher) -> str:
    return publisher.base_url.rsplit(":", 1)[1]


async def restricted_client(
    resolve: ScriptedResolver, network: LoopbackNetwork, **settings: Any
) -> httpx.AsyncClient:
    http, restricted = http_clients(Settings(**settings), resolve=resolve, network=network)
    await http.aclose()
    return restricted


async def test_a_host_that_rebinds_to_loopback_never_reaches_it(publisher: Publisher) -> None:
    """The check's answer is public, a second answer would be loopback: the connection goes
    to the checked address (unreachable from a test), never to loopback."""
    resolve = ScriptedResolver({"localhost": [[PUBLIC], ["127.0.0.1"]]})
    network = LoopbackNetwork()
    client = await restricted_client(resolve, network)
    async with client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://localhost:{port_of(publisher)}/feed.json")
    assert publisher.requests == [], "the loopback server was reached"
    assert network.connects == [(PUBLIC, int(port_of(publisher)))]
    assert resolve.asked["localhost"] == 1, "resolved once, for the check and the connection"


async def test_a_connection_that_lands_on_loopback_is_refused(publisher: Publisher) -> None:
    """Whatever the answers said, the peer the socket reached is checked too."""
    network = LoopbackNetwork(routes=[PUBLIC], reveal_loopback=True)
    client = await restricted_client(ScriptedResolver(), network)
    async with client:
        with pytest.raises(SourceNotAllowed, match=r"127\.0\.0\.1, a loopback address"):
            await client.get(f"http://feeds.example.org:{port_of(publisher)}/feed.json")
    assert publisher.requests == []


async def test_the_checked_address_is_fetched_under_the_host_name(publisher: Publisher) -> None:
    resolve = ScriptedResolver()
    network = LoopbackNetwork(routes=[PUBLIC])
    client = await restricted_client(resolve, network)
    async with client:
        response = await client.get(f"http://feeds.example.org:{port_of(publisher)}/feed.json")
    assert response.status_code == 200 and response.content == b"[]"
    path, headers = publisher.requests[0]
    assert path == "/feed.json"
    assert headers["Host"] == f"feeds.example.org:{port_of(publisher)}"
    assert network.connects == [(PUBLIC, int(port_of(publisher)))]
    assert resolve.asked["feeds.example.org"] == 1


@pytest.mark.parametrize(
    ("path", "kind"), [("/to-intranet", "private"), ("/to-loopback", "loopback")]
)
async def test_every_redirect_is_checked(publisher: Publisher, path: str, kind: str) -> None:
    network = LoopbackNetwork(routes=[PUBLIC])
    client = await restricted_client(ScriptedResolver(), network)
    async with client:
        with pytest.raises(SourceNotAllowed, match=f"a {kind} address"):
            await client.get(f"http://feeds.example.org:{port_of(publisher)}{path}")
    assert [request[0] for request in publisher.requests] == [path]
    assert [address for address, _ in network.connects] == [PUBLIC]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/feed.json",
        "http://[::1]:{port}/x",
        "http://mixed.example.org:{port}/",
    ],
)
async def test_loopback_literals_and_mixed_answers_are_refused(
    publisher: Publisher, url: str
) -> None:
    network = LoopbackNetwork(routes=[PUBLIC])
    client = await restricted_client(ScriptedResolver(), network)
    async with client:
        with pytest.raises(SourceNotAllowed, match="loopback"):
            await client.get(url.format(port=port_of(publisher)))
    assert network.connects == [] and publisher.requests == []


async def test_private_hosts_connect_when_allowed(publisher: Publisher) -> None:
    resolve = ScriptedResolver({"intranet.example.org": [["127.0.0.1"]]})
    network = LoopbackNetwork()
    client = await restricted_client(resolve, network, allow_private_sources=True)
    async with client:
        response = await client.get(f"http://intranet.example.org:{port_of(publisher)}/feed.json")
    assert response.status_code == 200
    assert network.connects == [("127.0.0.1", int(port_of(publisher)))]
