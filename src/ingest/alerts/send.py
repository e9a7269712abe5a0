"""Sending a batch of events to a watch's target, webhook or email, and the sample event
`tenders watch test` and `POST /watches/{id}/test` send: a made-up tender, marked
`"test": true`, sent at once and stored nowhere (no delivery row: it is not an event)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpcore
import httpx

from configs.config import Settings
from src.domain.alerts.entities import Watch
from src.domain.alerts.services.deliveries import EventPayload
from src.domain.tender.services.export import EXPORT_FIELDS
from src.infra.source_policy import Resolver, system_resolver
from src.ingest.alerts.digest import digest_message
from src.ingest.alerts.mail import send_email
from src.ingest.alerts.outcome import SendOutcome
from src.ingest.alerts.payload import WatchRef, webhook_body
from src.ingest.alerts.webhook import post_webhook, webhook_client


@dataclass(frozen=True)
class Target:
    """A watch as its senders need it (a plain value: no session behind it)."""

    id: uuid.UUID
    name: str
    webhook_url: str | None
    email: str | None
    secret: str

    @classmethod
    def of(cls, watch: Watch) -> Target:
        return cls(watch.id, watch.name, watch.webhook_url, watch.email, watch.secret)

    @property
    def kind(self) -> str:
        return "webhook" if self.webhook_url else "email"


@dataclass(frozen=True)
class Senders:
    """What sending needs: the settings (SMTP, timeouts) and the webhook client."""

    settings: Settings
    http: httpx.AsyncClient


@asynccontextmanager
async def open_senders(
    settings: Settings,
    *,
    resolve: Resolver = system_resolver,
    network: httpcore.AsyncNetworkBackend | None = None,
) -> AsyncIterator[Senders]:
    """Senders with a webhook client of their own, closed at the end."""
    async with webhook_client(settings, resolve=resolve, network=network) as http:
        yield Senders(settings, http)


async def send_events(
    senders: Senders, target: Target, events: Sequence[EventPayload], *, test: bool = False
) -> SendOutcome:
    """One POST or one email with all of `events`."""
    now = datetime.now(UTC)
    if target.webhook_url is not None:
        body = webhook_body(WatchRef(target.id, target.name), events, now, test=test)
        ids = [event.event_id for event in events]
        return await post_webhook(
            senders.http, senders.settings, target.webhook_url, target.secret, body, ids
        )
    if target.email is not None:
        message = digest_message(
            target.name,
            target.email,
            events,
            sender=senders.settings.alerts_email_from,
            test=test,
        )
        return await send_email(senders.settings, message)
    return SendOutcome.refused("the watch has neither a webhook URL nor an email address")


def send_time_limit(settings: Settings) -> float:
    """The longest one send may take: a webhook's WEBHOOK_TIMEOUT_SECONDS; an SMTP session
    (several exchanges) twice that."""
    return 2 * settings.webhook_timeout_seconds


def sample_event(kind: str, now: datetime) -> EventPayload:
    """A made-up event of `kind` about a made-up tender, with every field a real one has."""
    tender: dict[str, Any] = dict.fromkeys(EXPORT_FIELDS)
    deadline = (now + timedelta(days=30)).replace(microsecond=0)
    tender.update(
        id=uuid.UUID(int=0),
        cig="0000000000",
        procedure_id="sample-procedure",
        lot_id="1",
        source="sample",
        title="Sample tender: a test of this watch",
        description="Not a real tender: it shows what this watch's events look like.",
        status="active",
        amount=Decimal("100000.00"),
        currency="EUR",
        buyer_id="sample-buyer",
        buyer_name="Sample buyer",
        cpv="45000000",
        nuts="ITC4",
        published_at=now.replace(microsecond=0),
        deadline_at=deadline,
        source_url="https://example.org/sample-tender",
    )
    changes = None
    if kind == "changed":
        changes = {
            "deadline_at": [(deadline - timedelta(days=7)).isoformat(), deadline.isoformat()]
        }
    return EventPayload(
        delivery_id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        kind=kind,
        created_at=now,
        tender=tender,
        changes=changes,
        replay=False,
    )


async def send_test_event(senders: Senders, watch: Watch) -> SendOutcome:
    """Send a sample event to the watch's target now (paused or not) and say how it went.
    The event is of the first kind the watch wants, marked `"test": true`."""
    kind = watch.events[0] if watch.events else "new"
    event = sample_event(kind, datetime.now(UTC))
    return await send_events(senders, Target.of(watch), [event], test=True)
