"""What the CLI shows a person in a terminal, built from data it does not control (titles,
errors, sources, snippets, values written by publishers). Such text is data, never markup:
every cell is a rich `Text` (so `[/]` in an error is shown, not parsed), and control
characters are shown escaped (`\\x1b`), so no publisher can clear the screen, write to the
clipboard (OSC 52), plant links (OSC 8) or reorder a line (bidi overrides). Machine formats
(`--format jsonl`, `export`) keep values whole: JSON escapes controls itself."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

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


def cell(value: object) -> Text:
    """A table cell or a message from data: printable, and never read as markup."""
    return Text(printable(value))


def _when(moment: datetime | None, empty: str = "") -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else empty


def table(columns: Sequence[str], rows: Iterable[Sequence[object]], title: object = None) -> Table:
    """Columns that fold long values; every cell and the title through `cell`."""
    built = Table(title=cell(title) if title is not None else None)
    for column in columns:
        built.add_column(column, overflow="fold")
    for row in rows:
        built.add_row(*(cell(value) for value in row))
    return built


def _status(run: IngestRun) -> str:
    """A running run's status with how far it is: `running 31%` (of its bytes), else
    `running 20,000 rec` (records so far)."""
    if run.status != RunStatus.RUNNING:
        return run.status
    progress = run_progress(run)
    if progress.fraction is not None:
        return f"running {progress.fraction:.0%}"
    return f"running {progress.records:,} rec"


def runs_table(runs: Iterable[IngestRun]) -> Table:
    columns = (
        "id",
        "source",
        "status",
        "inserted",
        "updated",
        "unchanged",
        "rejected",
        "warnings",
    )
    return table(
        (*columns, "started", "finished", "error"),
        (
            (
                run.id,
                run.source,
                _status(run),
                run.inserted,
                run.updated,
                run.unchanged,
                run.rejected,
                run.warnings,
                _when(run.started_at),
                _when(run.finished_at),
                run.error,
            )
            for run in runs
        ),
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


def history_table(tender: Tender, rows: Iterable[TenderChange]) -> Table:
    return table(
        ("changed at", "field", "old", "new", "run"),
        (
            (_when(row.changed_at), row.field, row.old_value, row.new_value, row.run_id)
            for row in rows
        ),
        title=f"{tender.cig or tender.identity_key}: {tender.title[:80]}",
    )


def changes_table(rows: Iterable[Mapping[str, Any]]) -> Table:
    return table(
        ("changed at", "tender", "field", "old", "new"),
        (
            (
                _when(row["changed_at"]),
                row["cig"] or row["identity_key"],
                row["field"],
                row["old_value"],
                row["new_value"],
            )
            for row in rows
        ),
    )


def feeds_table(feeds: Iterable[Feed]) -> Table:
    return table(
        ("id", "source", "format", "interval s", "enabled", "last enqueued"),
        (
            (
                feed.id,
                feed.source,
                feed.format or "auto",
                feed.interval_seconds,
                "yes" if feed.enabled else "no",
                _when(feed.last_enqueued_at, "never"),
            )
            for feed in feeds
        ),
    )
