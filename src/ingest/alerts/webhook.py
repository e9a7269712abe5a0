"""Webhooks: one signed POST per watch and send, over a client whose every connection goes
to an address the source policy checked (as for sources named through the API), with
ALLOW_PRIVATE_WEBHOOKS in place of ALLOW_PRIVATE_SOURCES. Redirects are not followed: a
receiver that moved says so with its new URL, which the watch must then name.

The response is read up to a few hundred bytes (enough to say what went wrong), never more;
logs name the watch, the number of events and the status, never the secret or the body."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import httpcore
import httpx

from configs.config import Settings
from src.infra.guarded_http import PolicyTransport
from src.infra.source_policy import NameLookupFailed, Resolver, SourceNotAllowed, system_resolver
from src.ingest.alerts.outcome import SendOutcome, parse_retry_after
from src.ingest.alerts.payload import webhook_headers

log = logging.getLogger("tenders.alerts")

RESPONSE_SNIPPET_BYTES = 300


def webhook_policy(settings: Settings) -> Settings:
    """The source policy, with ALLOW_PRIVATE_WEBHOOKS deciding about private addresses."""
    return settings.model_copy(update={"allow_private_sources": settings.allow_private_webhooks})


def webhook_client(
    settings: Settings,
    *,
    resolve: Resolver = system_resolver,
    network: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncClient:
    """The client every webhook is sent with (`network`: tests give a loopback one)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.webhook_timeout_seconds),
        follow_redirects=False,
        headers={"User-Agent": settings.user_agent},
        transport=PolicyTransport(webhook_policy(settings), resolve, network),
    )


def _refusal(error: SourceNotAllowed) -> str:
    text = str(error).replace("ALLOW_PRIVATE_SOURCES", "ALLOW_PRIVATE_WEBHOOKS")
    return f"the webhook URL is refused: {text}"


def _snippet(data: bytes) -> str:
    text = data[:RESPONSE_SNIPPET_BYTES].decode("utf-8", "replace")
    return " ".join(text.split())


def _answer(response: httpx.Response, body: bytes, now: datetime) -> SendOutcome:
    status = response.status_code
    if 200 <= status < 300:
        return SendOutcome.ok(status)
    said = _snippet(body)
    error = f"HTTP {status} {response.reason_phrase}".rstrip() + (f": {said}" if said else "")
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        return SendOutcome.transient(error, status, retry_after)
    if 300 <= status < 400:
        where = response.headers.get("location", "")
        return SendOutcome.refused(
            f"HTTP {status}: redirects are not followed; give the watch the final URL"
            + (f" ({where[:200]})" if where else ""),
            status,
        )
    return SendOutcome.refused(error, status)


async def _post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> SendOutcome:
    async with client.stream("POST", url, content=body, headers=headers) as response:
        received = b""
        async for chunk in response.aiter_bytes():
            received += chunk
            if len(received) >= RESPONSE_SNIPPET_BYTES:
                break
        return _answer(response, received, datetime.now(UTC))


async def post_webhook(
    client: httpx.AsyncClient,
    settings: Settings,
    url: str,
    secret: str,
    body: bytes,
    event_ids: Sequence[uuid.UUID],
) -> SendOutcome:
    """POST `body`, signed now with `secret`; whatever happens comes back as an outcome."""
    headers = webhook_headers(secret, body, event_ids, int(time.time()))
    try:
        async with asyncio.timeout(settings.webhook_timeout_seconds):
            return await _post(client, url, body, headers)
    except NameLookupFailed as error:
        return SendOutcome.transient(str(error))
    except SourceNotAllowed as error:
        return SendOutcome.refused(_refusal(error))
    except (TimeoutError, httpx.TimeoutException):
        return SendOutcome.transient(
            f"no answer within {settings.webhook_timeout_seconds:g} s (WEBHOOK_TIMEOUT_SECONDS)"
        )
    except httpx.TransportError as error:
        return SendOutcome.transient(f"{type(error).__name__}: {error}".rstrip(": "))
    except httpx.InvalidURL as error:
        return SendOutcome.refused(f"the webhook URL is not valid: {error}")
