"""Email digests through a real SMTP server on loopback (aiosmtpd): one message per watch
and send, text and HTML with every publisher's value escaped, digests that wait for their
period, SMTP's 4xx tried again and 5xx final, and no SMTP_URL: deliveries wait, nothing
breaks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import update

from src.domain.alerts.entities import Watch
from src.ingest.alerts.mail import SmtpServer
from tests.alerts.conftest import AlertWorld
from tests.support.api import BASE_TIME, record
from tests.support.receivers import Inbox

HOSTILE = '<script>alert("x")</script> & Lavori "urgenti"'
FROM = "alerts@tenders.example.org"


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


async def test_a_digest_lists_each_tender_in_text_and_escaped_html(
    world: AlertWorld, inbox: Inbox
) -> None:
    world.configure(smtp_url=inbox.url, alerts_email_from=FROM)
    await world.watch("strade <Nord>", email="ufficio@example.org")
    await world.store([record(1, title=HOSTILE, nuts="ITC45"), record(2)])
    later = BASE_TIME + timedelta(days=100)
    await world.store([record(2, amount="99000", source_updated_at=later)])

    summary = await world.dispatch()

    assert (summary.sent, summary.batches) == (3, 1)
    [message] = inbox.messages
    assert message["Subject"] == "[tenders] strade <Nord>: 2 new, 1 changed"
    assert (message["From"], message["To"]) == (FROM, "ufficio@example.org")
    text, html = _parts(message)
    assert HOSTILE in text
    for line in ("CIG: 0000001A0B", "NUTS: ITC45", "Amount: 125000.50 EUR", "Status: active"):
        assert line in text
    assert "Changed amount: 125000.50 -> 99000" in text
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&amp; Lavori &quot;urgenti&quot;" in html
    assert "strade &lt;Nord&gt;" in html
    assert "<del>125000.50</del> &rarr; <ins>99000</ins>" in html
    delivered = await world.deliveries()
    assert {(d.status, d.response_code) for d in delivered} == {("sent", 250)}


async def test_an_hourly_digest_waits_for_its_hour(world: AlertWorld, inbox: Inbox) -> None:
    world.configure(smtp_url=inbox.url)
    watch = await world.watch("hourly", email="a@example.org", digest="hourly")
    await _last_sent(world, watch, datetime.now(UTC) - timedelta(minutes=10))
    await world.store([record(1), record(2)])
    summary = await world.dispatch()
    assert (summary.matched, summary.batches, inbox.messages) == (2, 0, [])
    assert {d.status for d in await world.deliveries()} == {"pending"}

    await _last_sent(world, watch, datetime.now(UTC) - timedelta(minutes=61))
    summary = await world.dispatch()
    assert (summary.sent, len(inbox.messages)) == (2, 1), "both in one digest"
    sent_at = (await world.reload(watch)).last_sent_at
    assert sent_at is not None and datetime.now(UTC) - sent_at < timedelta(minutes=1)
    await world.store([record(3)])
    assert (await world.dispatch()).batches == 0, "the next one waits an hour again"


async def _last_sent(world: AlertWorld, watch: Watch, at: datetime) -> None:
    async with world.sessions() as session, session.begin():
        await session.execute(update(Watch).where(Watch.id == watch.id).values(last_sent_at=at))


async def test_without_smtp_url_email_deliveries_wait_and_nothing_breaks(
    world: AlertWorld, inbox: Inbox
) -> None:
    world.configure(smtp_url=None)
    await world.watch("mail", email="a@example.org")
    await world.store([record(1)])
    summary = await world.dispatch()
    assert (summary.held, summary.batches) == (1, 0)
    [delivery] = await world.deliveries()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert delivery.error is not None and delivery.error.startswith("SMTP_URL is not set")
    assert delivery.next_attempt_at > datetime.now(UTC) + timedelta(minutes=4)

    world.configure(smtp_url=inbox.url)
    async with world.sessions() as session, session.begin():
        await session.execute(update(type(delivery)).values(next_attempt_at=datetime.now(UTC)))
    assert (await world.dispatch()).sent == 1
    assert len(inbox.messages) == 1


async def test_a_4xx_reply_is_tried_again_and_a_5xx_fails(world: AlertWorld, inbox: Inbox) -> None:
    world.configure(smtp_url=inbox.url)
    inbox.replies = ["451 4.3.0 try again later"]
    await world.watch("mail", email="a@example.org")
    await world.store([record(1)])
    await world.dispatch()
    [delivery] = await world.deliveries()
    assert (delivery.status, delivery.attempts, inbox.attempts) == ("sent", 2, 2)
    assert len(inbox.messages) == 1

    inbox.replies = ["554 5.7.1 rejected as spam"]
    await world.store([record(2)])
    await world.dispatch()
    failed = [d for d in await world.deliveries() if d.status != "sent"]
    assert [(d.status, d.attempts, d.response_code) for d in failed] == [("failed", 1, 554)]
    assert failed[0].error is not None and "rejected as spam" in failed[0].error
    assert len(inbox.messages) == 1


async def test_an_unreachable_mail_server_is_tried_again(world: AlertWorld, inbox: Inbox) -> None:
    world.configure(
        smtp_url="smtp://127.0.0.1:1", webhook_backoff_seconds=60, webhook_backoff_max_seconds=600
    )
    await world.watch("mail", email="a@example.org")
    await world.store([record(1)])
    await world.dispatch()
    [delivery] = await world.deliveries()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.error is not None and "127.0.0.1:1 could not be reached" in delivery.error


def test_smtp_url_forms() -> None:
    plain = SmtpServer.of("smtp://user%40corp:p%3Ass@mail.example.org:587")
    assert (plain.host, plain.port, plain.use_tls) == ("mail.example.org", 587, False)
    assert (plain.username, plain.password) == ("user@corp", "p:ss")
    assert "p:ss" not in repr(plain)
    tls = SmtpServer.of("smtps://mail.example.org")
    assert (tls.port, tls.use_tls, tls.username) == (465, True, None)
    assert SmtpServer.of("smtp://localhost").port == 25
