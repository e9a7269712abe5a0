"""`tenders watch …` (saved searches and where their alerts go) and `tenders deliveries`
(what was sent). The command line is the operator: it sees and manages every watch, and
the watches it makes belong to `operator`. Typer parses the options here; `main` registers
the sub-app and `deliveries`."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import get_settings
from src.cli import watch_views as views
from src.cli.commands import _dumps, _jsonable, database, err, out
from src.cli.display import cell, fail
from src.cli.errors import EXIT_UNREACHABLE, EXIT_USAGE, CliError, redis_errors
from src.cli.watch_options import (
    AmountMax,
    AmountMin,
    Buyer,
    BuyerWords,
    Cpv,
    DeadlineDays,
    Digest,
    Email,
    Events,
    Fields,
    Format,
    Name,
    Nuts,
    Source,
    Status,
    WatchName,
    Webhook,
    Words,
    option_items,
    watch_spec,
)
from src.domain.alerts.entities import Watch
from src.domain.alerts.schemas import WatchSpec
from src.domain.alerts.services.deliveries import counts_by_watch, list_deliveries
from src.domain.alerts.services.watches import (
    OPERATOR,
    WatchExistsError,
    WatchNotFoundError,
    WatchService,
)
from src.infra.queue import create_queue_pool
from src.ingest.watch_actions import WatchChange, change_watch, replay_watch
from src.ingest.watch_admission import WatchRefused, admit_watch

Sessions = async_sessionmaker[AsyncSession]

watch_app = typer.Typer(
    help="Saved searches (watches): the tenders they match, the events they want, and "
    "the webhook or email address their alerts go to.",
    no_args_is_help=True,
)

SECRET_NOTE = (
    "Keep this secret: it is shown now and never again. Every webhook request is signed "  # noqa: S105
    "with it (HMAC-SHA256 of the timestamp and the body); how a receiver checks the "
    'signature is in the README, "Alerts".'
)


@watch_app.command("add")
def add(
    name: Name,
    cpv: Cpv = None,
    nuts: Nuts = None,
    buyer: Buyer = None,
    buyer_words: BuyerWords = None,
    words: Words = None,
    amount_min: AmountMin = None,
    amount_max: AmountMax = None,
    source: Source = None,
    status: Status = None,
    events: Events = None,
    fields: Fields = None,
    deadline_days: DeadlineDays = 7,
    webhook: Webhook = None,
    email: Email = None,
    digest: Digest = "immediate",
) -> None:
    """Save a watch: tenders matching every filter given, the events wanted, one target.
    A list option may be repeated or given as a comma list (--cpv 45,4521). Prints the
    watch and its signing secret, once."""
    spec = watch_spec(
        {
            "name": name,
            "cpv": option_items(cpv),
            "nuts": option_items(nuts),
            "buyer_ids": option_items(buyer),
            "buyer_words": buyer_words,
            "words": words,
            "amount_min": amount_min,
            "amount_max": amount_max,
            "sources": option_items(source),
            "statuses": option_items(status),
            "events": option_items(events),
            "fields": option_items(fields),
            "deadline_days": deadline_days,
            "webhook_url": webhook,
            "email": email,
            "digest": digest,
        }
    )
    asyncio.run(_add(spec))


async def _add(spec: WatchSpec) -> None:
    """The webhook passes the door first (the API's check); then the watch is stored."""
    try:
        spec = await admit_watch(spec, get_settings())
    except WatchRefused as refused:
        code = EXIT_UNREACHABLE if refused.retry_later else EXIT_USAGE
        raise CliError(str(refused), code) from None
    async with database() as sessions, sessions() as session, session.begin():
        try:
            watch = await WatchService.create(session, spec, owner=OPERATOR)
        except WatchExistsError as error:
            raise CliError(f"{error}: choose another name, or remove it first") from None
    out.print(views.watch_view(watch, {}, [], out.width))
    out.print(cell(f"secret: {watch.secret}"), soft_wrap=True)
    out.print(cell(SECRET_NOTE))


@watch_app.command("list")
def list_watches(format: Format = "table") -> None:
    """Every watch: target, filters, events, paused or not (and why), failures in a row,
    deliveries sent/pending/failed."""
    _check_format(format)
    asyncio.run(_list(format))


def _check_format(format_name: str) -> None:
    if format_name not in ("table", "jsonl"):
        fail(f"--format {format_name!r}: table or jsonl")


async def _list(format_name: str) -> None:
    async with database() as sessions, sessions() as session:
        watches = await WatchService.list(session)
        counts = await counts_by_watch(session, [watch.id for watch in watches])
    if format_name == "jsonl":
        for watch in watches:
            row = views.watch_row(watch, counts[watch.id])
            sys.stdout.buffer.write(_dumps({k: _jsonable(v) for k, v in row.items()}))
        sys.stdout.flush()
        return
    if not watches:
        out.print("no watches: `tenders watch add NAME … --webhook URL` makes one")
        return
    out.print(views.watches_table(watches, counts, out.width))


@watch_app.command("show")
def show(name: WatchName) -> None:
    """Every field of a watch (not its secret), its deliveries by status, the last five."""
    asyncio.run(_show(name))


async def _show(name: str) -> None:
    async with database() as sessions, sessions() as session:
        watch = await _get(session, name)
        counts = (await counts_by_watch(session, [watch.id]))[watch.id]
        last = await list_deliveries(session, watch_ids=[watch.id], limit=5)
    out.print(views.watch_view(watch, counts, last, out.width))


@contextlib.contextmanager
def _known_watch() -> Iterator[None]:
    """A watch that is not there: one line, exit 2."""
    try:
        yield
    except WatchNotFoundError as error:
        fail(f"{error}: `tenders watch list` shows them")


@contextlib.asynccontextmanager
async def _queue_and_database() -> AsyncIterator[tuple[ArqRedis, Sessions]]:
    """Redis first (unreachable: exit 3 before anything is written), then the database."""
    settings = get_settings()
    async with redis_errors(settings):
        pool = await create_queue_pool(settings, conn_retries=0)
    try:
        async with database() as sessions:
            yield pool, sessions
    finally:
        await pool.aclose()


async def _get(session: AsyncSession, name: str) -> Watch:
    with _known_watch():
        return await WatchService.get(session, name)


@watch_app.command("remove")
def remove(
    name: WatchName,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Remove without asking.")] = False,
) -> None:
    """Remove a watch with its deliveries (asks first, unless --yes)."""
    if not yes:
        if not sys.stdin.isatty():
            fail(f"removing watch {name!r} needs a confirmation: give --yes to remove it")
        typer.confirm(f"Remove watch {name!r} and its deliveries?", abort=True)
    asyncio.run(_remove(name))


async def _remove(name: str) -> None:
    async with database() as sessions, sessions() as session, session.begin():
        watch = await _get(session, name)
        await WatchService.remove(session, watch)
    out.print(cell(f"removed watch {watch.name}"))


@watch_app.command("pause")
def pause(
    name: WatchName,
    reason: Annotated[str | None, typer.Option(help="Shown while it is paused.")] = None,
) -> None:
    """Send nothing for now; events still collect, and go out on resume."""
    asyncio.run(_pause(name, reason))


async def _pause(name: str, reason: str | None) -> None:
    async with database() as sessions:
        with _known_watch():
            change = WatchChange(paused=True, reason=reason)
            changed = await change_watch(None, sessions, name, change)
    out.print(cell(f"paused watch {changed.watch.name}: {changed.watch.paused_reason}"))


@watch_app.command("resume")
def resume(name: WatchName) -> None:
    """Send again: what failed or waited while paused is due now."""
    asyncio.run(_resume(name))


async def _resume(name: str) -> None:
    async with _queue_and_database() as (pool, sessions):
        with _known_watch():
            changed = await change_watch(pool, sessions, name, WatchChange(paused=False))
    due = changed.due_again
    out.print(cell(f"resumed watch {changed.watch.name}: {_deliveries(due)} due again"))
    _note_dispatch(due, changed.dispatched)


def _deliveries(count: int) -> str:
    return f"{count} deliver{'y' if count == 1 else 'ies'}"


def _note_dispatch(count: int, dispatched: bool) -> None:
    if count and not dispatched:
        err.print(cell("note: the alert dispatcher could not be queued: the cron sends them"))


_AGE = re.compile(r"^\s*(\d{1,6})\s*([dhm])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_since(text: str, now: datetime) -> datetime:
    """An ISO date or date-time (UTC without an offset), or an age: 7d, 24h, 30m."""
    age = _AGE.match(text)
    if age is not None:
        return now - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(
            f"--since {text!r}: give a date or date-time (2025-03-01, 2025-03-01T09:00:00; "
            "without an offset, UTC) or an age (7d, 24h, 30m)"
        )
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@watch_app.command("replay")
def replay(
    name: WatchName,
    since: Annotated[
        str,
        typer.Option(help="Events since then: 2025-03-01, 2025-03-01T09:00, or 7d, 24h, 30m."),
    ],
) -> None:
    """Send again what the watch was sent (or was to send) since --since, marked as replays
    with the same event ids (receivers that drop duplicates by id keep dropping them)."""
    moment = parse_since(since, datetime.now(UTC))
    asyncio.run(_replay(name, moment))


async def _replay(name: str, since: datetime) -> None:
    async with _queue_and_database() as (pool, sessions):
        with _known_watch():
            replayed = await replay_watch(pool, sessions, name, since)
    shown = since.astimezone(UTC).isoformat(timespec="seconds")
    count = replayed.queued
    out.print(
        cell(f"{_deliveries(count)} of watch {replayed.watch.name} queued again (since {shown})")
    )
    _note_dispatch(count, replayed.dispatched)


def deliveries(
    watch: Annotated[str | None, typer.Option(help="Only this watch (name or id).")] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Only those that failed, or whose last try did.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many, newest first.")] = 50,
    format: Format = "table",
) -> None:
    """What alerts were sent, or are to be: when, to which watch, which event and tender,
    the status, the attempts, the receiver's answer."""
    _check_format(format)
    asyncio.run(_deliveries_list(watch, failed, limit, format))


async def _deliveries_list(watch: str | None, failed: bool, limit: int, format_name: str) -> None:
    async with database() as sessions, sessions() as session:
        watch_ids = None if watch is None else [(await _get(session, watch)).id]
        rows = await list_deliveries(session, watch_ids=watch_ids, failed=failed, limit=limit)
    if format_name == "jsonl":
        for row in rows:
            sys.stdout.buffer.write(_dumps({k: _jsonable(v) for k, v in row.items()}))
        sys.stdout.flush()
        return
    if not rows:
        out.print("no deliveries" + (" failed" if failed else ""))
        return
    out.print(views.deliveries_table(rows, out.width, one_watch=watch is not None))
