"""What `tenders watch …` and `tenders deliveries` print: tables that fit the terminal (see
`display.fit`), every value shown as text, never as markup; and the rows of `--format
jsonl`, whole. A watch's secret is never among them (it is shown once, by `watch add`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from src.cli.display import WIDTH, Column, cut_middle, fit, printable, when
from src.domain.alerts.entities import Watch
from src.domain.ids import short_id

# Every column of a watch but its secret (and its owner's name is the API token's).
WATCH_FIELDS = (
    "id",
    "name",
    "owner",
    "cpv",
    "nuts",
    "buyer_ids",
    "buyer_words",
    "words",
    "amount_min",
    "amount_max",
    "sources",
    "statuses",
    "events",
    "fields",
    "deadline_days",
    "webhook_url",
    "email",
    "digest",
    "paused_at",
    "paused_reason",
    "consecutive_failures",
    "last_sent_at",
    "created_at",
    "updated_at",
)
DELIVERY_STATUSES = ("pending", "sent", "failed")


def watch_row(watch: Watch, counts: Mapping[str, int]) -> dict[str, Any]:
    """A watch as `--format jsonl` writes it: every field but the secret, its deliveries
    by status."""
    row = {name: getattr(watch, name) for name in WATCH_FIELDS}
    row["deliveries"] = {status: counts.get(status, 0) for status in DELIVERY_STATUSES}
    return row


def target(watch: Watch) -> str:
    if watch.webhook_url is not None:
        return watch.webhook_url
    return f"{watch.email} ({watch.digest})"


def _amounts(low: Decimal | None, high: Decimal | None) -> str | None:
    if low is None and high is None:
        return None
    shown = [f"{value:,.0f}" if value is not None else "" for value in (low, high)]
    return "amount " + "-".join(shown)


def filters_summary(watch: Watch) -> str:
    """Every filter the watch sets, on one line; `all tenders` when it sets none."""
    parts = [
        f"{label} {','.join(values)}"
        for label, values in (
            ("cpv", watch.cpv),
            ("nuts", watch.nuts),
            ("buyer", watch.buyer_ids),
            ("source", watch.sources),
            ("status", watch.statuses),
        )
        if values
    ]
    if watch.buyer_words:
        parts.append(f"buyer words '{watch.buyer_words}'")
    if watch.words:
        parts.append(f"words '{watch.words}'")
    amounts = _amounts(watch.amount_min, watch.amount_max)
    if amounts:
        parts.append(amounts)
    return "; ".join(parts) or "all tenders"


def events_summary(watch: Watch) -> str:
    """`new,changed(deadline_at),deadline_near(7d)`: the events and what counts for each."""
    shown = []
    for kind in watch.events:
        if kind == "changed" and watch.fields:
            kind = f"changed({','.join(watch.fields)})"
        elif kind == "deadline_near":
            kind = f"deadline_near({watch.deadline_days}d)"
        shown.append(kind)
    return ",".join(shown)


def state(watch: Watch) -> str:
    if watch.paused_at is None:
        return "active"
    return f"paused: {watch.paused_reason}" if watch.paused_reason else "paused"


def counts_text(counts: Mapping[str, int]) -> str:
    return "/".join(str(counts.get(status, 0)) for status in ("sent", "pending", "failed"))


def watches_table(
    watches: Iterable[Watch], counts: Mapping[Any, Mapping[str, int]], width: int = WIDTH
) -> Table:
    return fit(
        (
            Column("name", flex=True),
            Column("target", flex=True, cut=cut_middle, weight=2),
            Column("filters", flex=True, weight=2),
            Column("events", flex=True),
            Column("state", flex=True),
            Column("fails", right=True),
            Column("sent/pend/fail", right=True),
        ),
        (
            (
                watch.name,
                target(watch),
                filters_summary(watch),
                events_summary(watch),
                state(watch),
                watch.consecutive_failures,
                counts_text(counts.get(watch.id, {})),
            )
            for watch in watches
        ),
        width,
    )


def _shown(value: object) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if isinstance(value, list):
        return ", ".join(printable(item) for item in value)
    return printable(value)


def watch_view(
    watch: Watch,
    counts: Mapping[str, int],
    deliveries: Sequence[Mapping[str, Any]],
    width: int = WIDTH,
) -> RenderableType:
    """Every field (no secret), the deliveries by status and the last ones."""
    fields = Table(
        title=Text(f"watch {watch.name}"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    fields.add_column("field", no_wrap=True)
    fields.add_column("value", overflow="fold")
    for name in WATCH_FIELDS:
        fields.add_row(name, Text(_shown(getattr(watch, name))))
    by_status = ", ".join(f"{counts.get(s, 0)} {s}" for s in DELIVERY_STATUSES)
    parts: list[RenderableType] = [fields, Text(f"deliveries: {by_status}")]
    if deliveries:
        title = f"last {len(deliveries)} deliveries"
        parts.append(deliveries_table(deliveries, width, title, one_watch=True))
    return Group(*parts)


def _kind(row: Mapping[str, Any]) -> str:
    return f"{row['kind']} (replay)" if row["replay"] else str(row["kind"])


def delivery_moment(row: Mapping[str, Any]) -> Any:
    """When it last happened: sent, else last tried, else made."""
    return row["sent_at"] or row["last_attempt_at"] or row["created_at"]


def _tender(row: Mapping[str, Any]) -> str:
    return str(row["cig"] or row["identity_key"] or short_id(row["tender_id"]))


def deliveries_table(
    rows: Sequence[Mapping[str, Any]],
    width: int = WIDTH,
    title: object = None,
    *,
    one_watch: bool = False,
) -> Table:
    """`one_watch`: the rows are of one watch, whose name is not repeated on each."""
    tenders = [_tender(row) for row in rows]
    columns = [
        Column("when (UTC)"),
        *([] if one_watch else [Column("watch", flex=True)]),
        Column("kind"),
        # A CIG is shown whole; a long identity key keeps its end (the lot).
        Column("tender", flex=any(len(t) > 12 for t in tenders), cut=cut_middle),
        Column("title", flex=True, weight=2),
        Column("status"),
        Column("tries", right=True),
        Column("code", right=True),
        Column("error", flex=True, weight=2),
    ]
    return fit(
        columns,
        (
            (
                when(delivery_moment(row)),
                *([] if one_watch else [row["watch"]]),
                _kind(row),
                tender,
                row["title"],
                row["status"],
                row["attempts"],
                "" if row["response_code"] is None else row["response_code"],
                row["error"] or "",
            )
            for row, tender in zip(rows, tenders, strict=True)
        ),
        width,
        title=title,
    )
