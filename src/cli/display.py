"""What the CLI shows a person in a terminal, built from data it does not control (titles,
errors, sources, snippets, values written by publishers). Such text is data, never markup:
every cell is a rich `Text` (so `[/]` in an error is shown, not parsed), and control
characters are shown escaped (`\\x1b`), so no publisher can clear the screen, write to the
clipboard (OSC 52), plant links (OSC 8) or reorder a line (bidi overrides). Machine formats
(`--format jsonl`, `export`) keep values whole: JSON escapes controls itself."""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from src.domain.ids import short_id
from src.domain.runs.entities import Feed, IngestRun, Rejection, RunStatus
from src.domain.runs.progress import run_progress
from src.domain.tender.entities import Tender, TenderChange

# C0 but tab and newline, DEL, C1, and the invisible marks that reorder text (bidi).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escaped(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """`value` as text a terminal shows as it is: control characters escaped."""
    text = "" if value is None else str(value)
    return _CONTROLS.sub(_escaped, text.replace("\r\n", "\n"))


def fail(message: object, code: int = 2) -> NoReturn:
    """A mistake of the caller's (an unknown id, a bad option): one line on stderr, `error: ...`,
    and exit `code` (2, as for any usage error)."""
    sys.stderr.write(f"error: {printable(message).replace(chr(10), ' ')}\n")
    raise SystemExit(code)


def cell(value: object) -> Text:
    """A table cell or a message from data: printable, and never read as markup."""
    return Text(printable(value))


# Tables that fit the terminal: every cell on one line, no column cut into slivers. The
# short columns (ids, statuses, counts, dates) keep their width; the long ones (sources,
# titles, errors, values) share what is left, each cut to it: text loses its end (`…`), a
# location its middle (the file name stays). Whole values are in `--format jsonl`.
ELLIPSIS = "…"
MIN_FLEX = 6


def _head(text: str, width: int) -> str:
    """The longest start of `text` that takes at most `width` cells."""
    used = 0
    for index, char in enumerate(text):
        used += cell_len(char)
        if used > width:
            return text[:index]
    return text


def _tail(text: str, width: int) -> str:
    return _head(text[::-1], width)[::-1]


def cut_end(text: str, width: int) -> str:
    if cell_len(text) <= width:
        return text
    return _head(text, max(width - 1, 0)) + ELLIPSIS


def cut_middle(text: str, width: int) -> str:
    """A location in `width` cells: its start, `…/`, and its last part (the file name)."""
    if cell_len(text) <= width:
        return text
    head, slash, name = text.rpartition("/")
    if not slash or cell_len(name) + 2 > width:
        return ELLIPSIS + _tail(text, max(width - 1, 0))
    return _head(head, width - cell_len(name) - 2) + ELLIPSIS + "/" + name


def when(moment: datetime | None, empty: str = "") -> str:
    """A moment in 16 cells, in UTC: 2025-03-01 09:00."""
    if moment is None:
        return empty
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def day(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Column:
    header: str
    flex: bool = False  # shares the width the fixed columns leave
    right: bool = False
    cut: Callable[[str, int], str] = cut_end
    weight: int = 1  # a flexible column's share of the room, against the others'


def _one_line(value: object) -> str:
    return " ".join(printable(value).replace("\t", " ").split("\n"))


def _widths(columns: Sequence[Column], cells: Sequence[Sequence[str]], width: int) -> list[int]:
    """Fixed columns as wide as their widest cell; flexible ones share the rest by weight,
    none wider than its widest cell (what one does not need goes to the others)."""
    widths = [
        max([cell_len(column.header), *(cell_len(row[i]) for row in cells)])
        for i, column in enumerate(columns)
    ]
    flexible = [i for i, column in enumerate(columns) if column.flex]
    room = width - (len(columns) - 1) - sum(widths) + sum(widths[i] for i in flexible)
    weights = sum(columns[i].weight for i in flexible)
    for index in sorted(flexible, key=lambda i: widths[i] / columns[i].weight):
        share = room * columns[index].weight // weights
        widths[index] = min(widths[index], max(share, MIN_FLEX))
        room -= widths[index]
        weights -= columns[index].weight
    return widths


def set_title(table: Table, title: object, width: int) -> None:
    """A title on one line above the table: the table is made as wide as it (up to `width`),
    and it is cut to `width`."""
    text = cut_end(_one_line(title), width)
    table.title = Text(text, no_wrap=True, overflow="ellipsis")
    table.min_width = cell_len(text)


_ISO_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?")


def value(text: str | None) -> str | None:
    """A changed value as a table shows it: a date-time as `when` writes it (UTC)."""
    if text is None or not _ISO_MOMENT.fullmatch(text):
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    return when(moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC))


def fit(
    columns: Sequence[Column],
    rows: Iterable[Sequence[object]],
    width: int,
    title: object = None,
) -> Table:
    """A table at most `width` cells wide (when its fixed columns allow), one line a row."""
    cells = [[_one_line(value) for value in row] for row in rows]
    widths = _widths(columns, cells, width)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 0), title_justify="left")
    if title is not None:
        set_title(table, title, width)
    for column, size in zip(columns, widths, strict=True):
        table.add_column(
            cut_end(column.header, size),
            width=size,
            no_wrap=True,
            overflow="ellipsis",
            justify="right" if column.right else "left",
        )
    for row in cells:
        table.add_row(
            *(
                Text(column.cut(text, size))
                for text, column, size in zip(row, columns, widths, strict=True)
            )
        )
    return table


def _when(moment: datetime | None, empty: str = "") -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else empty


def table(columns: Sequence[str], rows: Iterable[Sequence[object]], title: object = None) -> Table:
    """Columns that fold long values; every cell and the title through `cell`."""
    built = Table(title=cell(title) if title is not None else None)
    if title is not None:
        built.min_width = cell_len(printable(title))
    for column in columns:
        built.add_column(column, overflow="fold")
    for row in rows:
        built.add_row(*(cell(value) for value in row))
    return built


WIDTH = 80  # what a table fits when the caller does not say (rich's own default)


def _status(run: IngestRun) -> str:
    """A running run's status with how far it is: `running 31%` (of its bytes), else
    `running 20,000 rec` (records so far)."""
    if run.status != RunStatus.RUNNING:
        return run.status
    progress = run_progress(run)
    if progress.fraction is not None:
        return f"running {progress.fraction:.0%}"
    return f"running {progress.records:,} rec"


def runs_table(runs: Iterable[IngestRun], width: int = WIDTH) -> Table:
    columns = (
        Column("id"),
        Column("source", flex=True, cut=cut_middle, weight=3),
        Column("status"),
        *(Column(name, right=True) for name in ("ins", "upd", "same", "rej", "warn")),
        Column("started"),
        Column("error", flex=True),
    )
    return fit(
        columns,
        (
            (
                short_id(run.id),
                run.source,
                _status(run),
                run.inserted,
                run.updated,
                run.unchanged,
                run.rejected,
                run.warnings,
                when(run.started_at)[5:],
                run.error,
            )
            for run in runs
        ),
        width,
    )


def rejections_table(run_id: uuid.UUID, rows: Sequence[Rejection]) -> Table:
    warned = sum(1 for row in rows if row.kind == "field")
    return table(
        ("kind", "position", "reason", "value"),
        (
            (row.kind, row.position, row.reason, (row.raw_value or row.snippet or "")[:120])
            for row in rows
        ),
        title=f"run {run_id}: {len(rows) - warned} rejections, {warned} field warnings",
    )


def history_table(tender: Tender, rows: Iterable[TenderChange], width: int = WIDTH) -> Table:
    return fit(
        (
            Column("changed (UTC)"),
            Column("field"),
            Column("old", flex=True),
            Column("new", flex=True),
            Column("run"),
        ),
        (
            (
                when(row.changed_at),
                row.field,
                value(row.old_value),
                value(row.new_value),
                short_id(row.run_id),
            )
            for row in rows
        ),
        width,
        title=f"{tender.cig or short_id(tender.id)} {tender.identity_key}: {tender.title}",
    )


def changes_table(rows: Iterable[Mapping[str, Any]], width: int = WIDTH) -> Table:
    return fit(
        (
            Column("changed (UTC)"),
            Column("tender"),
            Column("field"),
            Column("old", flex=True),
            Column("new", flex=True),
        ),
        (
            (
                when(row["changed_at"]),
                row["cig"] or short_id(row["tender_id"]),
                row["field"],
                value(row["old_value"]),
                value(row["new_value"]),
            )
            for row in rows
        ),
        width,
    )


def feeds_table(feeds: Iterable[Feed], width: int = WIDTH) -> Table:
    return fit(
        (
            Column("id"),
            Column("source", flex=True, cut=cut_middle),
            Column("format"),
            Column("every s", right=True),
            Column("on"),
            Column("last enqueued"),
        ),
        (
            (
                short_id(feed.id),
                feed.source,
                feed.format or "auto",
                feed.interval_seconds,
                "yes" if feed.enabled else "no",
                when(feed.last_enqueued_at, "never"),
            )
            for feed in feeds
        ),
        width,
    )
