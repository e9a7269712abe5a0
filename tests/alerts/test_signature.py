"""The webhook signature: what the sender writes verifies with the watch's secret, and
nothing else does — a changed body, another secret, a timestamp out of tolerance, a header
without its parts. The README's standalone snippet gives the same answers."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from src.domain.alerts.services.deliveries import EventPayload
from src.ingest.alerts.payload import (
    EVENT_IDS_HEADER,
    SIGNATURE_HEADER,
    WatchRef,
    signature,
    verify_signature,
    webhook_body,
    webhook_headers,
)
from tests.support.paths import ROOT

SECRET = "whsec_test-secret"
Verify = Callable[..., bool]


def _readme_verify() -> Verify:
    """The function the README gives receivers, run as a receiver would paste it."""
    text = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- verify-signature -->\n```python\n(.*?)```", text, re.S)
    assert found, "the README's verification snippet is missing"
    namespace: dict[str, object] = {}
    exec(compile(found.group(1), "README.md", "exec"), namespace)  # the README's own text
    verify = namespace["verify_signature"]
    assert callable(verify)
    return verify


VERIFIERS = {"package": verify_signature, "readme": _readme_verify()}


def _event(kind: str = "changed") -> EventPayload:
    return EventPayload(
        delivery_id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        kind=kind,
        created_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        tender={"id": uuid.uuid4(), "title": "Mensa <b>", "amount": Decimal("100000.50")},
        changes={"deadline_at": ["2026-03-31T00:00:00+00:00", "2026-04-10T00:00:00+00:00"]},
        replay=False,
    )


def _signed(body: bytes, at: float | None = None) -> str:
    return signature(SECRET, body, int(time.time() if at is None else at))


@pytest.mark.parametrize("verify", VERIFIERS.values(), ids=VERIFIERS.keys())
def test_a_signed_body_verifies_with_the_watch_secret(verify: Verify) -> None:
    body = webhook_body(WatchRef(uuid.uuid4(), "w"), [_event()], datetime.now(UTC))
    assert verify(SECRET, _signed(body), body)


@pytest.mark.parametrize("verify", VERIFIERS.values(), ids=VERIFIERS.keys())
def test_a_tampered_body_a_wrong_secret_or_a_stale_timestamp_fail(verify: Verify) -> None:
    body = webhook_body(WatchRef(uuid.uuid4(), "w"), [_event()], datetime.now(UTC))
    header = _signed(body)
    tampered = body.replace(b"100000.50", b"900000.50")
    assert tampered != body
    assert not verify(SECRET, header, tampered)
    assert not verify("whsec_another", header, body)
    assert not verify(SECRET, _signed(body, time.time() - 301), body)
    assert not verify(SECRET, _signed(body, time.time() + 301), body)
    assert verify(SECRET, _signed(body, time.time() - 299), body)
    assert verify(SECRET, _signed(body, time.time() - 1000), body, tolerance=2000)


@pytest.mark.parametrize("verify", VERIFIERS.values(), ids=VERIFIERS.keys())
@pytest.mark.parametrize(
    "header",
    ["", "t=abc,v1=00", "v1=00", "t=123", "garbage", "t=,v1="],
)
def test_a_malformed_header_fails(verify: Verify, header: str) -> None:
    assert not verify(SECRET, header, b"{}")


@pytest.mark.parametrize("verify", VERIFIERS.values(), ids=VERIFIERS.keys())
def test_one_of_several_signatures_may_match(verify: Verify) -> None:
    """A sender that signs with an old and a new secret while a receiver rotates."""
    body = b'{"events": []}'
    now = int(time.time())
    old = signature("whsec_old", body, now).rpartition("v1=")[2]
    assert verify(SECRET, f"{signature(SECRET, body, now)},v1={old}", body)
    assert verify("whsec_old", f"{signature(SECRET, body, now)},v1={old}", body)


def test_the_body_carries_the_watch_and_each_event_in_full() -> None:
    watch = WatchRef(uuid.uuid4(), "mense")
    new, changed = _event("new"), _event("changed")
    new = EventPayload(**{**new.__dict__, "changes": None, "replay": True})
    sent_at = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    body = orjson.loads(webhook_body(watch, [new, changed], sent_at))
    assert body["watch"] == {"id": str(watch.id), "name": "mense"}
    assert body["sent_at"] == "2026-03-01T12:30:00+00:00"
    assert [e["id"] for e in body["events"]] == [str(new.event_id), str(changed.event_id)]
    first, second = body["events"]
    assert (first["kind"], first["replay"], first["changes"]) == ("new", True, None)
    assert first["tender"]["amount"] == "100000.50"  # a decimal string, exact
    assert second["changes"] == {
        "deadline_at": {"old": "2026-03-31T00:00:00+00:00", "new": "2026-04-10T00:00:00+00:00"}
    }
    assert "test" not in body


def test_the_headers_sign_the_body_and_list_the_event_ids() -> None:
    ids = [uuid.uuid4() for _ in range(150)]
    headers = webhook_headers(SECRET, b"{}", ids, int(time.time()))
    assert headers["Content-Type"] == "application/json"
    assert verify_signature(SECRET, headers[SIGNATURE_HEADER], b"{}")
    assert headers[EVENT_IDS_HEADER].split(",") == [str(i) for i in ids[:100]]
