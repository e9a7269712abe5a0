"""A local HTTP server for tests: the remote publisher, on loopback only."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """A response. With `stall`, the body is sent short of its Content-Length by one byte
    and the connection then held, silent, until the test sets the event (at most 10 s); with
    `hang`, nothing is sent until the event is set."""

    body: bytes
    etag: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    stall: threading.Event | None = None
    # A publisher that hangs: the answer waits until this is set (at most HANG_SECONDS).
    hang: threading.Event | None = None


HANG_SECONDS = 120


@dataclass
class Publisher:
    routes: dict[str, Route]
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    base_url: str = ""


@contextmanager
def serve(routes: dict[str, Route]) -> Iterator[Publisher]:
    publisher = Publisher(routes)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            publisher.requests.append((self.path, dict(self.headers)))
            route = publisher.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            if route.hang is not None:
                route.hang.wait(HANG_SECONDS)
            with contextlib.suppress(ConnectionError):  # a client that stopped waiting
                self._answer(route)

        def _answer(self, route: Route) -> None:
            if route.etag and self.headers.get("If-None-Match") == route.etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(route.status)
            if route.etag:
                self.send_header("ETag", route.etag)
            for name, value in route.headers.items():
                self.send_header(name, value)
            missing = 1 if route.stall is not None else 0
            self.send_header("Content-Length", str(len(route.body) + missing))
            self.end_headers()
            self.wfile.write(route.body)
            if route.stall is not None:
                self.wfile.flush()
                route.stall.wait(10)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    publisher.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield publisher
    finally:
        for route in publisher.routes.values():
            for event in (route.stall, route.hang):
                if event is not None:
                    event.set()
        server.shutdown()
        server.server_close()
