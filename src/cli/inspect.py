"""Looking inside from the command line: `tenders list`, `show`, `stats`, and the embedded
servers (`servers`, `stop`). Typer parses the options here; `main` registers the commands."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import typer

from configs.config import Settings, get_settings
from src.cli import views
from src.cli.commands import _dumps, _jsonable, database, out
from src.cli.display import fail, printable
from src.domain.stats import stats as read_stats
from src.domain.tender.schemas import TENDER_STATUSES, TRACKED_FIELDS
from src.domain.tender.services.export import EXPORT_FIELDS
from src.domain.tender.services.filters import (
    TenderFilters,
    cpv_prefix,
    newest_tenders,
    search_words,
)
from src.domain.tender.services.lookup import last_changes, other_lots, resolve_tender

DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S"]
LIST_FIELDS = ("id", "identity_key", *EXPORT_FIELDS[1:])


def _moment(help_text: str) -> Any:
    return typer.Option(
        help=help_text + " (2025-03-01 or 2025-03-01T09:00:00; without an offset, UTC)",
        formats=DATE_FORMATS,
        metavar="DATE",
    )


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _usage(message: str) -> NoReturn:
    fail(message)


def _filters(
    cig: str | None,
    cpv: str | None,
    status: str | None,
    q: str | None,
    dates: tuple[datetime | None, datetime | None, datetime | None],
) -> TenderFilters:
    """The API's filters, with its rules: a CIG is 10 letters and digits, a CPV digits;
    `dates` are deadline before, deadline after, published after (UTC when naive)."""
    if cig is not None and not (len(cig.strip()) == 10 and cig.strip().isalnum()):
        _usage(f"--cig {cig!r}: a CIG is 10 letters and digits, e.g. 1234567A0B")
    if cpv is not None and not (cpv[:1].isdigit() and set(cpv) <= set("0123456789-")):
        _usage(f"--cpv {cpv!r}: a CPV code or prefix is digits (e.g. 45 or 45233120-6)")
    if status is not None and status not in TENDER_STATUSES:
        _usage(f"--status {status!r}: one of {', '.join(sorted(TENDER_STATUSES))}")
    words: tuple[str, ...] = ()
    if q is not None:
        try:
            words = search_words(q)
        except ValueError as error:
            _usage(f"-q: {error}")
    deadline_before, deadline_after, published_after = (_utc(d) for d in dates)
    return TenderFilters(
        cig=cig,
        cpv_prefix=cpv_prefix(cpv) if cpv is not None else None,
        status=status,
        deadline_before=deadline_before,
        deadline_after=deadline_after,
        published_after=published_after,
        words=words,
    )


def tracked_fields(given: list[str]) -> tuple[str, ...]:
    """`--field` values (repeated, or comma lists) checked against the tracked fields."""
    fields = tuple(f.strip() for value in given for f in value.split(",") if f.strip())
    unknown = [f for f in fields if f not in TRACKED_FIELDS]
    if unknown:
        _usage(f"--field {unknown[0]!r}: changes are kept for {', '.join(TRACKED_FIELDS)}")
    return fields


def list_tenders(
    cig: Annotated[str | None, typer.Option(help="Exact CIG (any case).", metavar="CIG")] = None,
    cpv: Annotated[
        str | None,
        typer.Option(help="CPV prefix (45, 4523); a full code means its branch.", metavar="CPV"),
    ] = None,
    buyer: Annotated[str | None, typer.Option(help="The buyer's id.", metavar="ID")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="OCDS status: " + ", ".join(sorted(TENDER_STATUSES)), metavar="STATUS"),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="anac, ted, ocds:<prefix>.", metavar="SOURCE")
    ] = None,
    deadline_before: Annotated[datetime | None, _moment("deadline_at before this")] = None,
    deadline_after: Annotated[datetime | None, _moment("deadline_at at or after this")] = None,
    published_after: Annotated[datetime | None, _moment("published_at at or after this")] = None,
    q: Annotated[
        str | None,
        typer.Option(
            "-q",
            "--query",
            help="Words in the title or description (starts of words).",
            metavar="WORDS",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, help="How many, newest first.", metavar="N")
    ] = 50,
    format: Annotated[
        str, typer.Option("--format", "-f", help="table or jsonl", metavar="FORMAT")
    ] = "table",
) -> None:
    """Tenders matching every filter given (the filters of GET /tenders), newest first."""
    if format not in ("table", "jsonl"):
        _usage(f"--format {format!r}: table or jsonl")
    filters = _filters(cig, cpv, status, q, (deadline_before, deadline_after, published_after))
    filters = replace(filters, buyer_id=buyer, source=source)
    asyncio.run(_list(filters, limit, format))


async def _list(filters: TenderFilters, limit: int, format_name: str) -> None:
    async with database() as session_factory, session_factory() as session:
        tenders = await newest_tenders(session, filters, limit)
    if format_name == "jsonl":
        for tender in tenders:
            row = {name: _jsonable(getattr(tender, name)) for name in LIST_FIELDS}
            sys.stdout.buffer.write(_dumps(row))
        sys.stdout.flush()
        return
    if not tenders:
        out.print("no tenders match")
        return
    out.print(views.tenders_table(tenders, out.width))


def show(
    tender: Annotated[str, typer.Argument(help="A CIG, a tender id or its first characters.")],
) -> None:
    """One tender: every column, its award, the other lots of its procedure, its last
    changes."""
    asyncio.run(_show(tender))


async def _show(text: str) -> None:
    async with database() as session_factory, session_factory() as session:
        try:
            tender = await resolve_tender(session, text)
        except LookupError as error:
            _usage(str(error))
        lots = await other_lots(session, tender)
        changes = await last_changes(session, tender.id)
    out.print(views.tender_view(tender, lots, changes, out.width))


def stats() -> None:
    """Tenders by source and status, runs and rejections of the last 24 h, the feed that
    has waited longest, the jobs waiting in Redis."""
    asyncio.run(_stats())


async def _queue_line(settings: Settings) -> str:
    """How many jobs wait in the queue, or why that is not known (one try, no retries)."""
    import redis.exceptions
    from arq.connections import create_pool

    from src.infra.queue import redis_settings

    connection = redis_settings(settings)
    connection.conn_retries = 0
    try:
        pool = await create_pool(connection)
        try:
            waiting = await pool.zcard(settings.queue_name)
        finally:
            await pool.aclose()
    except (redis.exceptions.RedisError, OSError) as error:
        return f"queue {settings.queue_name}: unknown, Redis did not answer ({error})"
    return f"queue {settings.queue_name}: {waiting} job{'' if waiting == 1 else 's'} waiting"


async def _stats() -> None:
    settings = get_settings()
    async with database() as session_factory, session_factory() as session:
        found = await read_stats(session)
    queue = await _queue_line(settings)
    out.print(views.stats_view(found, printable(queue), out.width))


def servers() -> None:
    """The URLs of the servers the commands use, as lines to paste into a shell or a .env
    file; the embedded ones are started when they are not running."""
    from src.cli.embedded_servers import print_servers

    print_servers()


def stop() -> None:
    """Stop the embedded PostgreSQL and Redis (under DATA_DIR); starts nothing."""
    from src.cli.embedded_servers import stop_servers

    stop_servers()
