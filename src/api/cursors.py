"""Opaque keyset cursors: base64url of a small JSON array naming the list it belongs to and the
last key returned. Clients never build them; a damaged one is a 422, never a 500."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson


class InvalidCursor(ValueError):  # noqa: N818 - reads as the error the client gets
    pass


@dataclass(frozen=True)
class Key:
    at: datetime
    id: uuid.UUID


def encode(kind: str, key: Key) -> str:
    data = orjson.dumps([kind, key.at.isoformat(), str(key.id)])
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(kind: str, cursor: str) -> Key:
    hint = "pass the next_cursor of a previous page unchanged"
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        tag, at, key = value
        if tag != kind:
            raise InvalidCursor(f"this cursor belongs to another list: {hint}")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise InvalidCursor(f"cursor is not valid: {hint}")
        # In UTC, as PostgreSQL compares it: a moment that leaves years 1-9999 there (an
        # edited cursor) is refused here rather than by the driver.
        return Key(moment.astimezone(UTC), uuid.UUID(key))
    except InvalidCursor:
        raise
    except (
        ValueError,
        TypeError,
        OverflowError,
        binascii.Error,
        UnicodeError,
        orjson.JSONDecodeError,
    ):
        raise InvalidCursor(f"cursor is not valid: {hint}") from None
