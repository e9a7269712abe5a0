"""Sending from the command line: `tenders watch test NAME` sends a sample event to a
watch's webhook or email now and says how it went. Typer parses the arguments here; `main`
registers the commands. What touches the network is imported when a command runs, so
`tenders` starts as fast as before."""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import urlsplit

import typer

from src.cli.display import fail

EXIT_FAILED = 1


def watch_test(
    name: Annotated[str, typer.Argument(help="The watch's name or id.")],
) -> None:
    """Send a sample event (a made-up tender, marked "test": true, stored nowhere) to the
    watch's webhook or email now, paused or not; print the answer. Exit 1 if it was not
    taken."""
    asyncio.run(_watch_test(name))


def target_text(webhook_url: str | None, email: str | None) -> str:
    """Where a watch sends, without what a URL may hide in its path or query (a webhook
    URL is often a secret of its own)."""
    if webhook_url is not None:
        return f"the webhook at {urlsplit(webhook_url).netloc}"
    return f"{email}"


async def _watch_test(name: str) -> None:
    from configs.config import get_settings
    from src.cli.commands import database, out
    from src.cli.display import cell
    from src.domain.alerts.services.watches import WatchNotFoundError, WatchService
    from src.ingest.alerts.send import open_senders, send_test_event

    settings = get_settings()
    async with database() as session_factory, session_factory() as session:
        try:
            watch = await WatchService.get(session, name)
        except WatchNotFoundError as error:
            fail(str(error))
    where = target_text(watch.webhook_url, watch.email)
    async with open_senders(settings) as senders:
        outcome = await send_test_event(senders, watch)
    if not outcome.sent:
        fail(f"the test event was not taken by {where}: {outcome.error}", EXIT_FAILED)
    answer = f" ({outcome.response_code})" if outcome.response_code else ""
    out.print(cell(f"test event sent to {where}{answer}"), soft_wrap=True)
