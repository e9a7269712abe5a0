"""One bad field never drops a tender: a field a reader cannot take as written is left empty
and kept as a `FieldWarning` (stored beside the run's rejections). Only identity (source,
procedure, lot, CIG), the title, and what the row's key must fit reject a record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError

from src.domain.tender.plain_record import plain_record
from src.domain.tender.schemas import FieldWarning, TenderRecord

T = TypeVar("T")

# The field warnings a record keeps: past these, one more says how many were left out. A
# release can give a lot a warning for each of its awards (a value of each that cannot be
# read), and a framework's awards may each name every lot: a few MB would be millions of rows.
MAX_FIELD_WARNINGS = 20

# What a record cannot be kept without: a problem with one of these rejects it.
IDENTITY_FIELDS = frozenset(
    {"source", "procedure_id", "lot_id", "cig", "title", "format", "document_key", "position"}
)


class FieldWarnings(list[FieldWarning]):
    """The warnings of one record as a reader assembles its fields."""

    def take(self, field: str, parse: Callable[..., T | None], raw: Any, *args: Any) -> T | None:
        """`parse(raw, *args)`, or None with a warning when it raises ValueError."""
        try:
            return parse(raw, *args)
        except ValueError as error:
            self.append(FieldWarning.of(field, str(error), raw))
            return None


def build_record(
    fields: dict[str, Any], warnings: list[FieldWarning] | None = None
) -> TenderRecord:
    """The record of `fields`. A field outside IDENTITY_FIELDS that the record refuses (a
    currency of four letters, an amount out of range) is set to None and becomes a warning;
    a problem with identity, title or the key raises the ValidationError (a rejection)."""
    kept = _capped(warnings or [])
    record = plain_record(fields, kept)
    if record is not None:
        return record  # every value as the validation would keep it
    values = fields  # copied before a field is cleared: the caller's dict stays as given
    while True:
        try:
            return TenderRecord(**values, warnings=kept)
        except ValidationError as error:
            problems = {str(e["loc"][0]): e["msg"] for e in error.errors() if e["loc"]}
            blocking = [e for e in error.errors() if not e["loc"]]
            if blocking or not problems or problems.keys() & IDENTITY_FIELDS:
                raise
            if any(values.get(name) is None for name in problems):
                raise  # nothing left to clear: not a field's value at fault
            values = dict(values)
            for name, message in problems.items():
                kept.append(FieldWarning.of(name, message, values.get(name)))
                values[name] = None


def _capped(warnings: list[FieldWarning]) -> list[FieldWarning]:
    """The first MAX_FIELD_WARNINGS of a record's warnings, and how many more there were."""
    if len(warnings) <= MAX_FIELD_WARNINGS:
        return list(warnings)
    more = len(warnings) - MAX_FIELD_WARNINGS
    fields = sorted({w.field for w in warnings[MAX_FIELD_WARNINGS:]})
    summary = FieldWarning.of(
        "warnings",
        f"{more:,} more field warnings of this record not kept (fields: {', '.join(fields)})",
        None,
    )
    return [*warnings[:MAX_FIELD_WARNINGS], summary]
