"""OCDS versioned releases: every field a list of its versions, `{value, releaseID,
releaseDate, releaseTag}`, oldest first (as `ocdskit compile --versioned` writes them). The
tender is the latest value of each field; the history itself stays in the raw publication."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from src.readers.common import is_object, parse_timestamp

_VERSION_KEYS = frozenset({"releaseID", "releaseDate"})
# How deep to look for a versioned field: a versioned release has one at the top
# (initiationType, tag) or one level down (tender.title, buyer.name) in every real case.
_SEARCH_DEPTH = 3


def is_version_list(value: object) -> bool:
    """A field's versions: a non-empty list of objects holding `value` and a release id or
    date."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            is_object(entry) and "value" in entry and entry.keys() & _VERSION_KEYS
            for entry in value
        )
    )


def _plain(value: object) -> bool:
    return isinstance(value, str)


def is_versioned(release: object, depth: int = _SEARCH_DEPTH) -> bool:
    """Whether an object (a release, or a record's versionedRelease) is a versioned one."""
    if not is_object(release) or depth <= 0:
        return False
    if depth == _SEARCH_DEPTH and _plain(release.get("id")) and _plain(release.get("date")):
        # A release or compiled release: a versioned one has no `id` (omitted when merged)
        # and no plain `date`. Every release is asked this; most have both.
        return False
    return any(
        is_version_list(value) or is_versioned(value, depth - 1)
        for key, value in release.items()
        if key != "ocid"
    )


def latest_state(versioned: Mapping[str, Any]) -> dict[str, Any]:
    """The release a versioned release describes today: each field's latest value (a field
    whose latest value is null is left out, as in a compiled release), and `date` the latest
    release date seen in the history."""
    dates: list[str] = []
    state = _latest(versioned, dates)
    if isinstance(state, dict) and "date" not in state:
        latest = _latest_date(dates)
        if latest is not None:
            state["date"] = latest
    return state if isinstance(state, dict) else {}


def _latest(value: Any, dates: list[str]) -> Any:
    if is_version_list(value):
        last = value[-1]
        dates.extend(
            entry["releaseDate"] for entry in value if isinstance(entry.get("releaseDate"), str)
        )
        return last["value"]  # a whole list merged as one value: not versioned inside
    if is_object(value):
        fields = ((key, _latest(item, dates)) for key, item in value.items())
        return {key: item for key, item in fields if item is not None}
    if isinstance(value, list):
        return [_latest(item, dates) for item in value]
    return value


def _latest_date(dates: list[str]) -> str | None:
    """The latest of the release dates that can be read (they may have different offsets)."""
    best: tuple[datetime, str] | None = None
    for text in set(dates):
        try:
            when = parse_timestamp(text)
        except ValueError:
            continue
        if when is not None and (best is None or (when, text) > best):
            best = (when, text)
    return None if best is None else best[1]
