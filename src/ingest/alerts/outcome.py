"""What one send came to, and when to try again: the same rules for webhooks and email.

Transient faults (network errors, timeouts, HTTP 5xx and 429, SMTP 4xx) are tried again with
exponential backoff: WEBHOOK_BACKOFF_SECONDS * 2^(attempt-1), up to
WEBHOOK_BACKOFF_MAX_SECONDS, a tenth of it at random added so that many watches failing
together do not come back together; a receiver's Retry-After is honoured instead, capped
at the same maximum. Anything else (another 4xx, SMTP 5xx, a target the policy refuses)
fails at once: trying again would get the same answer. After WEBHOOK_MAX_ATTEMPTS attempts
a delivery fails for good."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from configs.config import Settings


@dataclass(frozen=True)
class SendOutcome:
    """`sent`: the receiver took it (2xx, or the mail server accepted it). Otherwise `error`
    says why, `permanent` whether another try could help, `retry_after` what the receiver
    asked for (seconds). `response_code`: the HTTP status or SMTP reply code, if any."""

    sent: bool
    response_code: int | None = None
    error: str | None = None
    permanent: bool = False
    retry_after: float | None = None

    @classmethod
    def ok(cls, response_code: int | None) -> SendOutcome:
        return cls(True, response_code)

    @classmethod
    def transient(
        cls, error: str, response_code: int | None = None, retry_after: float | None = None
    ) -> SendOutcome:
        return cls(False, response_code, error, retry_after=retry_after)

    @classmethod
    def refused(cls, error: str, response_code: int | None = None) -> SendOutcome:
        return cls(False, response_code, error, permanent=True)

    def describe(self) -> str:
        if self.sent:
            return "sent" + (f" ({self.response_code})" if self.response_code else "")
        return f"failed: {self.error}"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from now: a number of seconds or an HTTP date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def backoff_seconds(attempts: int, settings: Settings, *, jitter: bool = True) -> float:
    """The wait after the `attempts`-th failed attempt."""
    base = settings.webhook_backoff_seconds * float(2 ** max(0, min(attempts - 1, 30)))
    delay = min(base, settings.webhook_backoff_max_seconds)
    if jitter and delay > 0:
        delay = min(delay * (1 + random.random() / 10), settings.webhook_backoff_max_seconds)
    return delay


def retry_at(
    outcome: SendOutcome, attempts: int, now: datetime, settings: Settings
) -> datetime | None:
    """When to try again after a failed attempt, the `attempts`-th; None: never."""
    if outcome.permanent or attempts >= settings.webhook_max_attempts:
        return None
    if outcome.retry_after is not None:
        delay = min(outcome.retry_after, settings.webhook_backoff_max_seconds)
    else:
        delay = backoff_seconds(attempts, settings)
    return now + timedelta(seconds=delay)
