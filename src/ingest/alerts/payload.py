"""What a webhook receives, and how it knows the sender: one JSON body per watch and send,
carrying a batch of events, signed as Stripe and GitHub sign theirs.

    Tenders-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

The timestamp is inside the signed bytes, so a captured request cannot be replayed later
than the receiver's tolerance; the event ids let a receiver drop a delivery it has seen (a
delivery is made at least once)."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from src.domain.alerts.services.deliveries import EventPayload

SIGNATURE_HEADER = "Tenders-Signature"
EVENT_IDS_HEADER = "Tenders-Event-Ids"
# Event ids listed in the header at most (the body has them all): headers have limits.
HEADER_EVENT_IDS = 100
DEFAULT_TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class WatchRef:
    """The watch a body is about, as the receiver sees it (never its secret)."""

    id: uuid.UUID
    name: str


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)  # exact: no float rounding of an amount
    if isinstance(value, uuid.UUID):  # the driver's own UUID type, which orjson does not know
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} in a webhook body")


def dumps(value: object) -> bytes:
    return orjson.dumps(value, default=_default)


def event_json(event: EventPayload, *, test: bool = False) -> dict[str, Any]:
    """One event: its id (the same in every delivery and replay of it), kind, when it
    happened, the tender's export fields (`id` is the tender's public id, as in the API), and
    for a change each field's old and new value (as text)."""
    changes = None
    if event.changes is not None:
        changes = {field: {"old": pair[0], "new": pair[1]} for field, pair in event.changes.items()}
    body: dict[str, Any] = {
        "id": event.event_id,
        "kind": event.kind,
        "created_at": event.created_at,
        "replay": event.replay,
        "tender": event.tender,
        "changes": changes,
    }
    if test:
        body["test"] = True
    return body


def webhook_body(
    watch: WatchRef, events: Sequence[EventPayload], sent_at: datetime, *, test: bool = False
) -> bytes:
    body: dict[str, Any] = {
        "watch": {"id": watch.id, "name": watch.name},
        "events": [event_json(event, test=test) for event in events],
        "sent_at": sent_at,
    }
    if test:
        body["test"] = True
    return dumps(body)


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The `Tenders-Signature` header's value for `body` sent at `timestamp`."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> bool:
    """Whether `header` (a `Tenders-Signature` value) signs `body` with `secret`, made no
    more than `tolerance` seconds from now. What a receiver runs (the README has the same
    function, standalone); compare against the raw body, before any JSON parsing."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, body, timestamp).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def webhook_headers(
    secret: str, body: bytes, event_ids: Sequence[uuid.UUID], timestamp: int
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, body, timestamp),
    }
    if event_ids:
        headers[EVENT_IDS_HEADER] = ",".join(str(i) for i in event_ids[:HEADER_EVENT_IDS])
    return headers
