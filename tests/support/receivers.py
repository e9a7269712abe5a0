"""Receivers of alerts for tests, on loopback only: a webhook endpoint that records every
request (body and headers) and answers as the test scripts it, and an SMTP server
(aiosmtpd) that keeps the messages it accepts or refuses them with a scripted reply."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.servers import free_port

HOLD_SECONDS = 120  # a held answer is sent after this long at most


@dataclass
class Answer:
    """One response: its status and headers; with `hold`, sent only once the event is set
    (the request is recorded when it arrives)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None
    body: bytes = b"ok"


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float = field(default_factory=time.time)  # when it arrived (the epoch, seconds)

    def json(self) -> Any:
        return orjson.loads(self.body)

    def event_ids(self) -> list[str]:
        return [event["id"] for event in self.json()["events"]]


@dataclass
class Receiver:
    """`answers` are used in order, one per request; then `default` for every request."""

    answers: list[Answer] = field(default_factory=list)
    default: Answer = field(default_factory=Answer)
    received: list[Received] = field(default_factory=list)
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return self.base_url + path

    def next_answer(self, request: Received) -> Answer:
        with self.lock:
            self.received.append(request)
            return self.answers.pop(0) if self.answers else self.default

    def event_ids(self) -> list[str]:
        """Every event id received, in the order received (duplicates kept)."""
        return [event_id for request in list(self.received) for event_id in request.event_ids()]

    def release(self) -> None:
        for answer in [*self.answers, self.default]:
            if answer.hold is not None:
                answer.hold.set()


@contextmanager
def receiving(port: int = 0, receiver: Receiver | None = None) -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 (`port` 0: any free one)."""
    this = receiver or Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = this.next_answer(Received(self.path, headers, body))
            if answer.hold is not None:
                answer.hold.wait(HOLD_SECONDS)
            with contextlib.suppress(ConnectionError):  # a sender that stopped waiting
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    this.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield this
    finally:
        this.release()
        server.shutdown()
        server.server_close()


@dataclass
class Inbox:
    """What the SMTP server accepted; `replies` refuse the next messages in order (e.g.
    "451 4.3.0 try again later", "550 5.1.1 no such user")."""

    messages: list[EmailMessage] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    attempts: int = 0
    port: int = 0

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(  # noqa: N802 - the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.attempts += 1
        if self.replies:
            return self.replies.pop(0)
        content = envelope.content
        data = content if isinstance(content, bytes) else (content or "").encode()
        message = message_from_bytes(data, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[Inbox]:
    inbox = Inbox(port=free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
