"""Reading eForms UBL XML: its namespaces, an element's whole text, eForms dates and amounts,
and a notice's text as a publication stores it (and its bytes to parse again)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import cast

from lxml import etree

from src.readers.common import clean_text, parse_amount, parse_timestamp
from src.readers.fields import FieldWarnings

NS = {
    "ext": "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "efext": "http://data.europa.eu/p27/eforms-ubl-extensions/1",
    "efac": "http://data.europa.eu/p27/eforms-ubl-extension-aggregate-components/1",
    "efbc": "http://data.europa.eu/p27/eforms-ubl-extension-basic-components/1",
}
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?")
_TIME = re.compile(r"(\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:\d{2})?")
_DECLARED_ENCODING = re.compile(
    r"""\ufeff?<\?xml\s[^>]*?\bencoding\s*=\s*(["'])(?P<encoding>[A-Za-z0-9._:-]*)\1"""
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0/C1 controls, seen in titles


def notice_text(data: bytes, root: etree._Element) -> str:
    """The notice as text, as its publication stores it: decoded from the encoding it is in,
    its XML declaration then naming UTF-8 (text has no byte encoding of its own, and the
    declaration must fit the bytes `notice_bytes` makes of it again)."""
    encoding = root.getroottree().docinfo.encoding or "utf-8"
    try:
        text = data.decode(encoding, "replace")
    except LookupError:  # an encoding libxml2 knows and Python does not
        return str(etree.tostring(root.getroottree(), encoding="unicode"))
    return _as_utf8_declared(text)


def _as_utf8_declared(text: str) -> str:
    declared = _DECLARED_ENCODING.match(text)
    if declared is None or declared["encoding"].lower().replace("_", "-") in ("utf-8", "utf8"):
        return text
    return f"{text[: declared.start('encoding')]}UTF-8{text[declared.end('encoding') :]}"


def notice_bytes(text: str) -> bytes:
    """A stored notice's text as bytes to parse again: UTF-8, its declaration saying so
    (publications stored before kept the notice's own encoding in their declaration)."""
    return _as_utf8_declared(text).encode("utf-8")


def clean(value: str | None) -> str | None:
    return clean_text(_CONTROL.sub("", value)) if value else None


def content(element: etree._Element) -> str | None:
    """The element's whole text, cleaned: every text node, CDATA included, with comments and
    processing instructions left out (`.text` would stop at the first of them)."""
    return clean("".join(cast(Iterator[str], element.itertext())))  # text: str, not bytes


def text(node: etree._Element, path: str) -> str | None:
    found = node.find(path, NS)
    return None if found is None else content(found)


def texts(node: etree._Element, path: str) -> list[str]:
    return [text for el in node.findall(path, NS) if (text := content(el))]


def lang_text(node: etree._Element | None, path: str, language: str | None) -> str | None:
    """The text in the notice language, else the first non-empty one."""
    if node is None:
        return None
    texts = [
        ((el.get("languageID") or "").upper(), text)
        for el in node.findall(path, NS)
        if (text := content(el))
    ]
    for lang, text in texts:
        if language and lang == language:
            return text
    return texts[0][1] if texts else None


def moment(
    date_text: str | None, time_text: str | None, *, default_time: str, zone: tzinfo = UTC
) -> datetime | None:
    """eForms splits a moment into a date (`2020-04-03+01:00`) and a time (`12:00:00+01:00`),
    each with its own offset; the time's offset wins, else the date's, else the moment is
    local time in `zone` (the buyer's country's). A date without a time is at
    `default_time` (the end of the day for a deadline, its start otherwise)."""
    if not date_text:
        return None
    day = _DATE.fullmatch(date_text)
    if day is None:
        raise ValueError(f"invalid date {date_text!r}")
    clock, offset = default_time, day.group(2)
    if time_text:
        moment = _TIME.fullmatch(time_text)
        if moment is None:
            raise ValueError(f"invalid time {time_text!r}")
        clock, offset = moment.group(1), moment.group(2) or offset
    return parse_timestamp(f"{day.group(1)}T{clock}{offset or ''}", default_tz=zone)


def money(
    element: etree._Element | None, field: str, warnings: FieldWarnings
) -> tuple[Decimal | None, str | None]:
    """An amount element's value and currency (`currencyID`); an unreadable value is
    (None, None) with a warning on `field` (the currency is checked by the record)."""
    text = None if element is None else content(element)
    value = None if element is None else warnings.take(field, parse_amount, text)
    if element is None or value is None:
        return None, None
    return value, clean(element.get("currencyID"))
