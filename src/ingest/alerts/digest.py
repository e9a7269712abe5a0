"""The email digest of a watch: a subject that counts what is in it, and the same list of
tenders as plain text and as HTML. Titles, buyers and every other value come from
publishers: the HTML escapes each one, and a link is made only of an http(s) URL."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from src.domain.alerts.services.deliveries import EventPayload

KIND_LABELS = {"new": "new", "changed": "changed", "deadline_near": "deadline near"}
MAX_VALUE_CHARS = 300


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M %Z").strip()
    text = " ".join(str(value).split())  # no line breaks from a publisher's value
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def subject(watch_name: str, events: Sequence[EventPayload], *, test: bool = False) -> str:
    counts = Counter(event.kind for event in events)
    parts = [f"{counts[kind]} {label}" for kind, label in KIND_LABELS.items() if counts[kind]]
    prefix = "[tenders] test: " if test else "[tenders] "
    return f"{prefix}{_text(watch_name)}: {', '.join(parts) or 'nothing new'}"


def key_fields(tender: dict[str, Any]) -> list[tuple[str, str]]:
    """The lines a reader scans a tender by, as (label, text)."""
    amount = tender.get("amount")
    money = "-" if amount is None else f"{amount} {tender.get('currency') or ''}".strip()
    return [
        ("Buyer", _text(tender.get("buyer_name"))),
        ("CIG" if tender.get("cig") else "Id", _text(tender.get("cig") or tender.get("id"))),
        ("CPV", _text(tender.get("cpv"))),
        ("NUTS", _text(tender.get("nuts"))),
        ("Amount", _text(money)),
        ("Deadline", _text(tender.get("deadline_at"))),
        ("Status", _text(tender.get("status"))),
        ("Source", _text(tender.get("source_url"))),
    ]


def _changes(event: EventPayload) -> list[tuple[str, str, str]]:
    return [
        (field, _text(pair[0]), _text(pair[1])) for field, pair in (event.changes or {}).items()
    ]


def _heading(event: EventPayload) -> str:
    replay = " (sent again)" if event.replay else ""
    return f"[{KIND_LABELS.get(event.kind, event.kind)}{replay}] {_text(event.tender.get('title'))}"


def plain_text(watch_name: str, events: Sequence[EventPayload]) -> str:
    lines = [f"Watch: {_text(watch_name)}", f"{len(events)} event(s)", ""]
    for event in events:
        lines.append(_heading(event))
        lines += [f"  {label}: {value}" for label, value in key_fields(event.tender)]
        lines += [f"  Changed {field}: {old} -> {new}" for field, old, new in _changes(event)]
        lines.append(f"  Event id: {event.event_id}")
        lines.append("")
    return "\n".join(lines)


def _link(url: str) -> str:
    escaped = html.escape(url, quote=True)
    if url.lower().startswith(("http://", "https://")):
        return f'<a href="{escaped}">{escaped}</a>'
    return escaped


def _html_event(event: EventPayload) -> str:
    rows = []
    for label, value in key_fields(event.tender):
        shown = _link(value) if label == "Source" and value != "-" else html.escape(value)
        rows.append(f"<tr><th align='left'>{html.escape(label)}</th><td>{shown}</td></tr>")
    for field, old, new in _changes(event):
        rows.append(
            f"<tr><th align='left'>Changed {html.escape(field)}</th>"
            f"<td><del>{html.escape(old)}</del> &rarr; <ins>{html.escape(new)}</ins></td></tr>"
        )
    return (
        f"<h3>{html.escape(_heading(event))}</h3>\n<table>{''.join(rows)}</table>\n"
        f"<p style='color:#888'>Event id {event.event_id}</p>"
    )


def html_body(watch_name: str, events: Sequence[EventPayload]) -> str:
    parts = "\n".join(_html_event(event) for event in events)
    return (
        "<!DOCTYPE html><html><body>"
        f"<p>Watch <b>{html.escape(_text(watch_name))}</b>: {len(events)} event(s)</p>\n"
        f"{parts}</body></html>"
    )


def digest_message(
    watch_name: str,
    to: str,
    events: Sequence[EventPayload],
    *,
    sender: str,
    test: bool = False,
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject(watch_name, events, test=test)
    message["From"] = sender
    message["To"] = to
    message.set_content(plain_text(watch_name, events))
    message.add_alternative(html_body(watch_name, events), subtype="html")
    return message
