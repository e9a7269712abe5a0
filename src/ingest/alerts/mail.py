"""Sending email digests over SMTP (aiosmtplib). SMTP_URL says where and how:
`smtp://user:password@host:587` (STARTTLS when the server offers it), `smtps://…:465` (TLS
from the start). The password never reaches a log line or a stored error.

SMTP's own classes of answer decide: a 4xx reply or a connection that fails is tried again
later; a 5xx reply fails the delivery at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

from configs.config import Settings
from src.ingest.alerts.outcome import SendOutcome

NO_SMTP = "SMTP_URL is not set: email deliveries wait until it is (smtp://user:pass@host:587)"


class SmtpUrlError(ValueError):
    """SMTP_URL cannot be used; the message says what to give."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    use_tls: bool
    username: str | None
    password: str | None

    def __repr__(self) -> str:  # never the password
        return f"SmtpServer({self.host}:{self.port}, tls={self.use_tls}, user={self.username})"

    @classmethod
    def of(cls, url: str) -> SmtpServer:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise SmtpUrlError("SMTP_URL must start with smtp:// or smtps://")
        try:
            port = parts.port
        except ValueError:
            raise SmtpUrlError("SMTP_URL's port is not a number") from None
        if not parts.hostname:
            raise SmtpUrlError("SMTP_URL has no host")
        return cls(
            host=parts.hostname,
            port=port or (465 if scheme == "smtps" else 25),
            use_tls=scheme == "smtps",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def smtp_server(settings: Settings) -> SmtpServer | None:
    if settings.smtp_url is None:
        return None
    return SmtpServer.of(settings.smtp_url.get_secret_value())


def _reply(error: aiosmtplib.SMTPResponseException, what: str) -> SendOutcome:
    text = f"SMTP {error.code} {' '.join(str(error.message).split())[:300]} ({what})"
    if 400 <= error.code < 500:
        return SendOutcome.transient(text, error.code)
    return SendOutcome.refused(text, error.code)


async def send_email(settings: Settings, message: EmailMessage) -> SendOutcome:
    """Hand `message` to the SMTP server; whatever happens comes back as an outcome."""
    try:
        server = smtp_server(settings)
    except SmtpUrlError as error:
        return SendOutcome.transient(str(error))
    if server is None:
        return SendOutcome.transient(NO_SMTP)
    try:
        async with asyncio.timeout(2 * settings.webhook_timeout_seconds):
            await _send(server, message, settings.webhook_timeout_seconds)
    except aiosmtplib.SMTPRecipientsRefused as error:
        if not error.recipients:
            return SendOutcome.refused("the mail server refused the recipient")
        return _reply(error.recipients[0], "recipient refused")
    except aiosmtplib.SMTPResponseException as error:
        return _reply(error, type(error).__name__)
    except TimeoutError:
        return SendOutcome.transient(
            f"the mail server {server.host}:{server.port} did not finish within "
            f"{2 * settings.webhook_timeout_seconds:g} s"
        )
    except (aiosmtplib.SMTPException, OSError) as error:
        return SendOutcome.transient(
            f"the mail server {server.host}:{server.port} could not be reached "
            f"({type(error).__name__}: {error})"
        )
    return SendOutcome.ok(250)


async def _send(server: SmtpServer, message: EmailMessage, step_seconds: float) -> None:
    """One SMTP session; `step_seconds` bounds each of its exchanges."""
    await aiosmtplib.send(
        message,
        hostname=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
        use_tls=server.use_tls,
        start_tls=None if not server.use_tls else False,
        timeout=step_seconds,
    )
