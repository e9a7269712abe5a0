"""Merging the releases of one ocid into its current state, with OCP's `ocdsmerge`.

ocdsmerge derives its rules from the OCDS release schema, which it would download; nothing
may be fetched at run time, so the rules are written out here. They are what the schema
says (https://standard.open-contracting.org/1.1/en/schema/merging/): release `id` and `tag`
are omitted, arrays marked `wholeListMerge` (or whose items have no `id`) are replaced as a
whole, and everything else merges by `id`, which ocdsmerge does by default. In OCDS 1.0,
organisations had no `id`, so `tenderers` and `suppliers` are whole lists there. Checked
against the compiled release that `ocdskit compile` produces for a real CDMX package."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import ocdsmerge

from src.domain.tender.schemas import RejectedRecord
from src.readers.items import PendingRelease, ReadItem
from src.readers.ocds_mapping import map_release

_ORGANIZATIONS = (
    ("parties",),
    ("buyer",),
    ("payer",),
    ("tender", "procuringEntity"),
    ("tender", "tenderers"),
    ("awards", "suppliers"),
    ("planning", "budget", "project"),
)
_ITEMS = (("tender", "items"), ("awards", "items"), ("contracts", "items"))
_AMENDED = (("tender",), ("awards",), ("contracts",))


def _rules(version: str) -> dict[tuple[str, ...], str]:
    rules: dict[tuple[str, ...], str] = {("id",): "omitWhenMerged", ("tag",): "omitWhenMerged"}
    for organization in _ORGANIZATIONS:
        rules[(*organization, "additionalIdentifiers")] = "wholeListMerge"
    for items in _ITEMS:
        rules[(*items, "additionalClassifications")] = "wholeListMerge"
    for amended in _AMENDED:
        rules[(*amended, "amendment", "changes")] = "wholeListMerge"
        rules[(*amended, "amendments", "changes")] = "wholeListMerge"
    if version.startswith("1.0"):
        rules[("tender", "tenderers")] = "wholeListMerge"
        rules[("awards", "suppliers")] = "wholeListMerge"
    return rules


@cache
def merger(version: str = "1.1") -> ocdsmerge.Merger:
    return ocdsmerge.Merger(merge_rules=_rules(version))


def compile_releases(releases: Sequence[dict[str, Any]], version: str = "1.1") -> dict[str, Any]:
    """The compiled release (current state) of one ocid's releases, in date order."""
    result: dict[str, Any] = merger(version).create_compiled_release(list(releases))
    return result


def merge_releases(
    ocid: str, releases: Sequence[dict[str, Any]], version: str, last: PendingRelease
) -> list[ReadItem]:
    """The tenders of one ocid's merged releases; `last` (the newest release read) names the
    position and source for the tenders, or for the rejection when they cannot be merged."""
    try:
        compiled = compile_releases(releases, version)
    except Exception as error:  # noqa: BLE001 - ocdsmerge raises many kinds on bad input
        reason = f"ocid {ocid}: releases cannot be merged: {error}"
        return [RejectedRecord.of(reason, last.position, last.data)]
    return list(map_release(compiled, source_url=last.source_url, position=last.position))
