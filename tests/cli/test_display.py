"""What the CLI's tables show when the data attacks its reader: markup in an error, escape
sequences in a title (clear screen, OSC 52 clipboard, OSC 8 link), C1 controls, bidi marks."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import pytest
from rich.console import Console
from rich.table import Table

from src.cli import display
from src.domain.runs.entities import Feed, IngestRun, Rejection
from src.domain.tender.entities import Tender, TenderChange

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
HOSTILE = (
    "[/] [bold]x[/bold] [link=https://evil.example]y[/link] "
    "\x1b[2J\x1b[H \x1b]52;c;ZXZpbA==\x07 \x1b]8;;https://evil.example\x1b\\here\x1b]8;;\x1b\\ "
    "\x9b31m \x07 \r over \u202eevil\u202c \x00"
)
# What may not reach a terminal: C0 but tab and newline, DEL, C1, bidi controls.
FORBIDDEN = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))] + [
    "\u202e",
    "\u202c",
]


WIDE = 2000  # wide enough for every hostile value to be shown whole


def render(table: Table, width: int = WIDE) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(table)
    return buffer.getvalue()


def assert_safe(shown: str) -> None:
    assert [c for c in FORBIDDEN if c in shown] == []
    assert "[/]" in shown and "[bold]x[/bold]" in shown, "markup is shown as written"
    assert "\\x1b]52;c;ZXZpbA==" in shown, "an escape sequence is shown escaped"
    assert "\\u202eevil" in shown and "\\x9b31m" in shown and "\\x0d over" in shown


def hostile_run() -> IngestRun:
    return IngestRun(
        id=uuid.uuid4(),
        source=HOSTILE,
        status="failed",
        inserted=0,
        updated=0,
        unchanged=0,
        rejected=1,
        error=HOSTILE,
        started_at=NOW,
        finished_at=NOW,
    )


def hostile_tender() -> Tender:
    return Tender(id=uuid.uuid4(), cig=None, identity_key=HOSTILE, title=HOSTILE)


def test_runs() -> None:
    assert_safe(render(display.runs_table([hostile_run()], WIDE)))


def test_rejections() -> None:
    rejection = Rejection(position=HOSTILE, reason=HOSTILE, snippet=HOSTILE)
    assert_safe(render(display.rejections_table(uuid.uuid4(), [rejection])))


def test_history_and_its_title() -> None:
    change = TenderChange(changed_at=NOW, field="title", old_value=HOSTILE, new_value=HOSTILE)
    shown = render(display.history_table(hostile_tender(), [change], WIDE))
    assert_safe(shown)
    title = shown.split("\n")[0]
    assert "[/]" in title and "\\x1b[2J" in title, title


def test_changes() -> None:
    row = {
        "changed_at": NOW,
        "cig": None,
        "tender_id": uuid.uuid4(),
        "identity_key": HOSTILE,
        "field": HOSTILE,
        "old_value": HOSTILE,
        "new_value": None,
    }
    assert_safe(render(display.changes_table([row], WIDE)))


def test_feeds() -> None:
    feed = Feed(id=uuid.uuid4(), source=HOSTILE, format=None, interval_seconds=60, enabled=True)
    assert_safe(render(display.feeds_table([feed], WIDE)))


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, ""),
        (42, "42"),
        ("Lavori \u2013 città\tlotto 1\nrigo", "Lavori \u2013 città\tlotto 1\nrigo"),
        ("a\r\nb", "a\nb"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("\x85next line", "\\x85next line"),
        ("\u2066isolate\u2069", "\\u2066isolate\\u2069"),
    ],
)
def test_printable_keeps_text_and_escapes_controls(value: object, shown: str) -> None:
    assert display.printable(value) == shown


def narrow(table: Table) -> list[str]:
    return render(table, 80).splitlines()


def test_at_80_columns_rows_stay_on_one_line_with_short_ids() -> None:
    runs = [hostile_run(), hostile_run()]
    runs[0].source = "/srv/data/" + "very-long-folder-name/" * 6 + "ocds-2025-03.json"
    runs[0].error = None
    lines = narrow(display.runs_table(runs, 80))
    assert len(lines) == 4 and max(len(line) for line in lines) <= 80, lines
    assert lines[2].startswith(runs[0].id.hex[:8] + " "), lines
    assert "…/ocds-2025-03.json" in lines[2], "the file name is kept, the middle elided"
    assert [c for c in FORBIDDEN if c in "".join(lines)] == [], "cut text is still escaped"
    assert "…" in lines[3] and lines[3].startswith(runs[1].id.hex[:8])


def test_every_table_fits_80_columns() -> None:
    change = TenderChange(
        changed_at=NOW,
        field="deadline_at",
        old_value="2025-03-01T09:00:00+00:00",
        new_value=HOSTILE,
        run_id=uuid.uuid4(),
    )
    feed = Feed(id=uuid.uuid4(), source=HOSTILE, format=None, interval_seconds=60, enabled=True)
    row = {
        "changed_at": NOW,
        "cig": None,
        "tender_id": uuid.uuid4(),
        "field": "title",
        "old_value": HOSTILE,
        "new_value": HOSTILE,
    }
    for table in (
        display.history_table(hostile_tender(), [change], 80),
        display.changes_table([row], 80),
        display.feeds_table([feed], 80),
    ):
        lines = narrow(table)
        assert max(len(line) for line in lines) <= 80, lines
        assert len(lines) in (3, 4), "a title, a header, a rule, one row"
    shown = "\n".join(narrow(display.history_table(hostile_tender(), [change], 80)))
    assert "2025-03-01 09:00" in shown, "a changed date-time is shown short, in UTC"
    assert str(change.run_id)[:8] in shown and str(change.run_id) not in shown


@pytest.mark.parametrize(
    ("text", "width", "shown"),
    [
        ("/a/b/c.json", 20, "/a/b/c.json"),
        ("/data/folder/deeper/still/file.json", 20, "/data/fol…/file.json"),
        ("https://example.org/feeds/anac/2025/ocds.jsonl.gz", 30, "https://example…/ocds.jsonl.gz"),
        ("no-slash-but-long-enough", 10, "…ng-enough"),
        ("/x/a-file-name-longer-than-the-room.json", 12, "…e-room.json"),
    ],
)
def test_cut_middle_keeps_the_file_name(text: str, width: int, shown: str) -> None:
    assert display.cut_middle(text, width) == shown
    assert len(display.cut_middle(text, width)) <= width
