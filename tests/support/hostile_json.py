"""Hostile JSON for the reader and fault tests: good OCDS releases and ANAC items around one
bad item (an integer too long for CPython, nesting 100,000 levels deep), in every JSON shape
we read. Each good record is one tender with a CIG of its own."""

from __future__ import annotations

import json
from dataclasses import dataclass


def release(index: int) -> bytes:
    """A compiled release of one lot whose CIG is `cig(index)`."""
    return json.dumps(
        {
            "ocid": f"ocds-hu01ve-{index}",
            "id": f"r{index}",
            "date": "2025-01-01T00:00:00Z",
            "tag": ["compiled"],
            "tender": {
                "id": str(index),
                "description": f"Servizio {index}",
                "lots": [{"id": cig(index), "status": "active"}],
            },
        }
    ).encode()


def anac_item(index: int) -> bytes:
    """An item of ANAC's CIG detail service whose CIG is `cig(index)`."""
    return json.dumps(
        {"bando": {"CIG": cig(index), "OGGETTO_LOTTO": f"Lotto {index}", "IMPORTO_LOTTO": 1500}}
    ).encode()


def cig(index: int) -> str:
    return f"{index:07d}AAA"


def with_member(document: bytes, name: str, raw_value: bytes) -> bytes:
    """A JSON object with one more member, its value written as the raw bytes given."""
    return document[:-1] + b', "' + name.encode() + b'": ' + raw_value + b"}"


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def package(*releases: bytes, after: bytes = b"") -> bytes:
    """A release package; `after` is more of its own fields, after its releases."""
    return b'{"version": "1.1", "releases": [' + b", ".join(releases) + b"]" + after + b"}"


def json_lines(*documents: bytes) -> bytes:
    return b"".join(document + b"\n" for document in documents)


def array(*documents: bytes) -> bytes:
    return b"[" + b", ".join(documents) + b"]"


@dataclass(frozen=True)
class Bomb:
    """A source with `good` tenders (their CIGs) around one item that must be a rejection
    whose reason says `reason`."""

    name: str
    format: str
    content: bytes
    good: tuple[str, ...]
    reason: str


def _around(bad: bytes, shape: str, first: int) -> tuple[bytes, tuple[str, ...]]:
    """`bad` (a raw JSON value) in the second of three items of `shape`, and the CIGs of the
    good two."""
    good = (first, first + 2)
    if shape.startswith("ocds"):
        items = (release(good[0]), with_member(release(first + 1), "x", bad), release(good[1]))
    else:
        items = (
            anac_item(good[0]),
            with_member(anac_item(first + 1), "x", bad),
            anac_item(good[1]),
        )
    whole = {"package": package, "lines": json_lines, "array": array}[shape.split("-")[1]]
    return whole(*items), (cig(good[0]), cig(good[1]))


_SHAPES = ("ocds-package", "ocds-lines", "anac_json-array", "anac_json-lines")


def number_bombs(first: int, digits: int) -> list[Bomb]:
    """An integer of `digits` digits in the second item, in each JSON reader's shapes."""
    bombs = []
    for index, shape in enumerate(_SHAPES):
        content, good = _around(b"1" * digits, shape, first + 10 * index)
        reason = "number beyond the range of a 64-bit float"
        bombs.append(Bomb(f"{shape}-{digits}", shape.split("-")[0], content, good, reason))
    return bombs


def depth_bombs(first: int, levels: int) -> list[Bomb]:
    """Nesting `levels` deep: a plain array, and in the second item of three shapes."""
    reason = "nested deeper than"
    bombs = [Bomb("plain-array", "ocds", nested(levels), (), reason)]
    for index, shape in enumerate(_SHAPES[:3]):
        content, good = _around(nested(levels), shape, first + 10 * index)
        bombs.append(Bomb(f"{shape}-deep", shape.split("-")[0], content, good, reason))
    return bombs
