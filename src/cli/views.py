"""What `tenders list`, `show` and `stats` print: tables that fit the terminal (see
`display.fit`), every value shown as text, never as markup."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from src.cli.display import (
    WIDTH,
    Column,
    cut_end,
    cut_middle,
    day,
    fit,
    history_table,
    printable,
    set_title,
    when,
)
from src.domain.ids import short_id
from src.domain.stats import Stats
from src.domain.tender.entities import Tender, TenderChange

AWARD_FIELDS = ("award_amount", "award_currency", "awarded_at", "supplier_name", "supplier_id")
LONG_VALUE = 600  # characters of a description `show` prints; `list -f jsonl` has it whole


def _amount(value: Decimal | None, currency: str | None) -> str:
    if value is None:
        return ""
    return f"{value:,.2f} {currency or ''}".strip()


def tenders_table(tenders: Iterable[Tender], width: int = WIDTH) -> Table:
    return fit(
        (
            Column("id"),
            Column("cig"),
            Column("status"),
            Column("deadline"),
            Column("amount", right=True),
            Column("title", flex=True),
        ),
        (
            (
                short_id(tender.id),
                tender.cig,
                tender.status,
                day(tender.deadline_at),
                _amount(tender.amount, tender.currency),
                tender.title,
            )
            for tender in tenders
        ),
        width,
    )


def _shown(value: object) -> str:
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return cut_end(printable(value), LONG_VALUE)


def _fields(tender: Tender, names: Sequence[str], title: str) -> Table:
    """Field / value, the value folded over lines when it is long."""
    table = Table(title=Text(title), title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("field", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name in names:
        table.add_row(name, Text(_shown(getattr(tender, name))))
    return table


def tender_view(
    tender: Tender,
    lots: Sequence[Tender],
    changes: Sequence[TenderChange],
    width: int = WIDTH,
) -> RenderableType:
    names = [c.key for c in Tender.__table__.columns if c.key not in AWARD_FIELDS]
    parts: list[RenderableType] = [
        _fields(tender, names, f"tender {short_id(tender.id)}"),
    ]
    if any(getattr(tender, name) is not None for name in AWARD_FIELDS):
        parts.append(_fields(tender, AWARD_FIELDS, "award"))
    else:
        parts.append(Text("award: none recorded\n"))
    if lots:
        title = f"other lots of procedure {tender.procedure_id} ({len(lots)})"
        lots_table = tenders_table(lots, width)
        set_title(lots_table, title, width)
        parts.append(lots_table)
    else:
        parts.append(Text("other lots: none\n"))
    if changes:
        changes_table = history_table(tender, changes, width)
        set_title(changes_table, f"last {len(changes)} changes", width)
        parts.append(changes_table)
    else:
        parts.append(Text("changes: none recorded"))
    return Group(*parts)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def stats_view(stats: Stats, queue: str, width: int = WIDTH) -> RenderableType:
    total = sum(count for _source, _status, count in stats.tenders)
    counts = fit(
        (Column("source", flex=True), Column("status"), Column("tenders", right=True)),
        [*((s or "", st or "", f"{c:,}") for s, st, c in stats.tenders), ("all", "", f"{total:,}")],
        width,
        title="tenders by source and status",
    )
    recent = stats.recent
    runs = sum(recent.by_status.values())
    by_status = ", ".join(f"{n} {status}" for status, n in sorted(recent.by_status.items()))
    lines = [
        f"runs in the last 24 h: {runs}" + (f" ({by_status})" if by_status else ""),
        f"  {recent.inserted:,} inserted, {recent.updated:,} updated, "
        f"{recent.unchanged:,} unchanged, {_plural(recent.rejected, 'rejection')}, "
        f"{_plural(recent.warnings, 'field warning')}",
    ]
    feed = stats.oldest_feed
    if feed is None:
        lines.append("oldest feed: no feeds")
    else:
        last = when(feed.last_enqueued_at, "never run")
        lines.append(f"oldest feed: {short_id(feed.id)} last enqueued {last} (UTC)")
        lines.append(f"  {cut_middle(printable(feed.source), width - 2)}")
    lines.append(queue)
    return Group(counts, Text("\n".join(lines)))
