"""A `TenderRecord` built without pydantic's validation when every value is already what the
validation would keep: text stripped, within its length, not a written-out container; a
currency as its three capital letters; a known status; an amount that fits its column; an
aware timestamp in range. That is nearly every record a reader maps, and a tenth of the
cost of mapping one lot. Anything else (a value to strip, to convert, to refuse, a title to
derive) goes through the validation as before: this only ever answers for values the
validation would keep exactly as they are (tests/domain/test_plain_record.py compares the
two on values of every kind)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from annotated_types import MaxLen, MinLen

from src.domain.tender.schemas import (
    TENDER_STATUSES,
    TEXT_FIELDS,
    FieldWarning,
    TenderRecord,
    check_indexable,
    fit_amount,
    fits_timestamptz,
    key_may_not_fit,
)

_object_setattr = object.__setattr__
_CURRENCY_FIELDS = frozenset({"currency", "award_currency"})
_AMOUNT_FIELDS = frozenset({"amount", "award_amount"})
_TIME_FIELDS = frozenset({"published_at", "deadline_at", "awarded_at", "source_updated_at"})
# Text the reader sets for the application (stripped, like all text, but of any length).
_READER_TEXT = frozenset({"raw_json", "format", "position", "document_key", "source_digest"})


def _lengths(name: str) -> tuple[int, int]:
    field = TenderRecord.model_fields[name]
    low = next((m.min_length for m in field.metadata if isinstance(m, MinLen)), 0)
    high = next((m.max_length for m in field.metadata if isinstance(m, MaxLen)), 1 << 62)
    return low, high


def _text_limits() -> dict[str, tuple[int, int, bool]]:
    """Each text field's (shortest, longest, whether a leading bracket is looked at)."""
    limits: dict[str, tuple[int, int, bool]] = {}
    for name, field in TenderRecord.model_fields.items():
        if name in _READER_TEXT:
            limits[name] = (0, 1 << 62, False)
        elif field.annotation in (str, str | None) and name not in ("status", *_CURRENCY_FIELDS):
            low, high = _lengths(name)
            # An empty CIG is None (cig is unique): the validation changes it.
            limits[name] = (max(low, 1) if name == "cig" else low, high, name in TEXT_FIELDS)
    return limits


_TEXT_LIMITS = _text_limits()
_OPENERS = ("[", "{")  # what a written-out list or object starts with


def _plain_code(name: str, value: str) -> bool:
    """Whether the validation keeps a currency or a status exactly as it is."""
    if name in _CURRENCY_FIELDS:
        return len(value) == 3 and value.isascii() and value.isalpha() and value.isupper()
    return name == "status" and value in TENDER_STATUSES


def _fits(amount: Decimal) -> bool:
    try:
        return fit_amount(amount) is amount
    except ValueError:
        return False


_DEFAULTS = {
    name: field.get_default(call_default_factory=False)
    for name, field in TenderRecord.model_fields.items()
    if not field.is_required() and field.default_factory is None
}
_REQUIRED = frozenset(n for n, f in TenderRecord.model_fields.items() if f.is_required())
_FIELDS = frozenset(TenderRecord.model_fields) - {"warnings"}
# Fields None is not a value of (a title None is derived from the description, or refused).
_NOT_NONE = frozenset({*_REQUIRED, "format"})


def plain_record(values: dict[str, Any], warnings: list[FieldWarning]) -> TenderRecord | None:
    """The record of `values`, unvalidated, when validating it would keep every value as
    given; None when any value needs the validation (to be changed or refused)."""
    keys = values.keys()
    if not (keys >= _REQUIRED and keys <= _FIELDS):
        return None  # a required field missing, or what is not a field (the warnings apart)
    text_limits = _TEXT_LIMITS
    # One pass, each value's type first: most are text, checked here rather than in a call.
    for name, value in values.items():
        kind = type(value)
        if kind is str:
            limits = text_limits.get(name)
            if limits is None:
                if not _plain_code(name, value):
                    return None
            elif value.strip() is not value or not limits[0] <= len(value) <= limits[1]:
                return None  # `strip()` gives the very same object when there is nothing to strip
            elif limits[2] and value.startswith(_OPENERS):
                return None  # a written-out list or object, looked at by the validation
        elif value is None:
            if name in _NOT_NONE:
                return None
        elif kind is datetime:
            if name not in _TIME_FIELDS or value.tzinfo is None or not fits_timestamptz(value):
                return None
        elif kind is Decimal:
            if name not in _AMOUNT_FIELDS or not value.is_finite() or not _fits(value):
                return None
        elif name != "raw":
            return None  # to change or refuse
    if not _keys_fit(values):
        return None
    # Some left out take their defaults: one new dict either way (the caller's stays as given).
    fields = {**_DEFAULTS, **values} if len(values) < len(_FIELDS) else values.copy()
    fields["warnings"] = warnings
    record = TenderRecord.__new__(TenderRecord)
    # What `BaseModel.model_construct` sets, without its per-field loop.
    _object_setattr(record, "__dict__", fields)
    _object_setattr(record, "__pydantic_fields_set__", {*values, "warnings"})
    _object_setattr(record, "__pydantic_extra__", None)
    _object_setattr(record, "__pydantic_private__", None)
    return record


def _keys_fit(values: dict[str, Any]) -> bool:
    """The model's index checks (the row's key, the document's key), when they need a look."""
    source = values["source"]
    if key_may_not_fit(source, values["procedure_id"], values.get("lot_id")):
        return False
    document_key = values.get("document_key")
    if document_key is None:
        return True
    try:
        check_indexable("", source, values.get("format") or "ocds", document_key)
    except ValueError:
        return False
    return True
