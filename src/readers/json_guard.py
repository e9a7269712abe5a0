"""A byte-level guard in front of the streaming JSON parser (ijson's C backend, on yajl), for
what that parser can neither survive nor refuse item by item:

- Nesting. ijson keeps a prefix string per open level, so its memory grows with the square of
  the depth (40 KB of `[[[…` took 1 GB, 200 KB took 23 GB). A container that would open more
  than `max_depth` levels deep is cut out and a marker string stands in its place, so the
  parser never sees more than `max_depth` + 1 levels.
- Numbers. yajl ends the whole parse at an integer beyond 64 bits or a float beyond a double's
  range; with `use_float=False` an integer of more than 4,300 digits crashes the process
  (SIGSEGV: CPython's int_max_str_digits). A number beyond a double's range, or longer than any
  double needs, is replaced by a marker; an integer beyond 64 bits is read as a float (".0" is
  appended), as orjson reads it in JSON Lines.

A reader that meets a marker rejects the item holding it (`MARKERS` says why). A chunk with
nothing to change passes unchanged after a scan at C speed; only a chunk holding a container
too deep or a suspicious number is lexed token by token.
"""

from __future__ import annotations

import io
import math
import re
from itertools import accumulate
from typing import Any, BinaryIO, Literal

Refusal = Literal["depth", "number"]

# What stands in for a refused container or number: text no publisher writes by chance.
DEPTH_MARKER = "\x00json-guard: nested too deep\x00"
NUMBER_MARKER = "\x00json-guard: number out of range\x00"
MARKERS: dict[str, Refusal] = {DEPTH_MARKER: "depth", NUMBER_MARKER: "number"}
_DEPTH_JSON = b'"\\u0000json-guard: nested too deep\\u0000"'
_NUMBER_JSON = b'"\\u0000json-guard: number out of range\\u0000"'

# The longest a number needs to be: the exact decimal form of the smallest double (2**-1074)
# has 751 significant digits after 323 zeros. Anything longer is refused unread.
MAX_NUMBER_CHARS = 1100
_INT64 = 2**63

_CHUNK = 1 << 16
_WINDOW = 4096  # bytes looked at in one step while skipping a container that was cut out
_QUOTE = ord('"')
_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")
_NUMBER_BYTES = b"-+.0123456789eE"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_NOT_OPENER = bytes(b for b in range(256) if b not in b"[{")
# Outside strings, what the fast scan looks at: separators become spaces, letters go.
_SPACES = bytes(32 if b in b",: \t\r\n" else b for b in range(256))
_NOISE = bytes(b for b in range(256) if b not in b'"[]{}0123456789eE.+-,: \t\r\n')
_DELTA = [0] * 256  # what a byte does to the depth
for _byte in b"[{":
    _DELTA[_byte] = 1
for _byte in b"]}":
    _DELTA[_byte] = -1

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
# A number that may need a change: 19 digits in a row (beyond 64 bits), or an exponent of 3
# digits or more (beyond a double's range). A number longer than MAX_NUMBER_CHARS has one.
_SUSPECT = re.compile(rb"[0-9]{19}|[eE][-+]?[0-9]{3}")
_STRING_BODY = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)
_PLAIN = re.compile(rb'[^"\[\]{}\-0-9]*+')  # whitespace, commas, colons, true, false, null
_OPENER_RUN = re.compile(rb"[\[{]++")
_CLOSER_RUN = re.compile(rb"[\]}]++")
_NUMBER = re.compile(rb"[-+.0-9eE]*+")


def checked_number(token: bytes) -> bytes:
    """The number as it may be read: itself, as a float (an integer beyond 64 bits), or the
    marker (beyond a double's range, or too long for one)."""
    if len(token) > MAX_NUMBER_CHARS:
        return _NUMBER_JSON
    try:
        magnitude = float(token)
    except ValueError:
        return token  # not a number at all: the parser says so
    if math.isinf(magnitude):
        return _NUMBER_JSON
    if token.lstrip(b"-").isdigit() and not -_INT64 <= int(token) < _INT64:
        return token + b".0"
    return token


def _masked(data: bytes) -> bytes:
    """`data` with every escape sequence (a backslash and the byte after it) blanked out, so
    that each quote left opens or closes a string."""
    return _ESCAPE.sub(b"__", data) if b"\\" in data else data


def _outside(masked: bytes, in_string: bool) -> tuple[bytes, bool]:
    """What matters of `masked` outside its strings (numbers and brackets, spaces between
    tokens), and whether it ends inside a string."""
    parts = masked.translate(_SPACES, _NOISE).split(b'"')
    return b" ".join(parts[1 if in_string else 0 :: 2]), in_string != (len(parts) % 2 == 0)


def _peak_depth(brackets: bytes, depth: int) -> int:
    return max(accumulate(map(_DELTA.__getitem__, brackets), initial=depth))


def line_too_deep(line: bytes, max_depth: int) -> bool:
    """Whether a whole JSON text (one JSON line) nests deeper than `max_depth`."""
    if len(line.translate(None, _NOT_OPENER)) <= max_depth:
        return False  # fewer openers than that in all: one pass over the line
    structure = _masked(line).translate(None, _NOT_STRUCTURE)
    if _surely_shallow(structure.replace(b'""', b""), max_depth):
        return False
    parts = structure.split(b'"')
    return _peak_depth(b"".join(parts[0::2]), 0) > max_depth


def _surely_shallow(structure: bytes, max_depth: int) -> bool:
    """True only if `structure` (quotes and brackets, each string's pair of quotes taken out
    where nothing was between them) nests at most `max_depth` deep; False: not known.

    With a quote left, some string held a bracket: not known. (Were the quotes taken out
    in pairs out of step, a closing with the next opening one, a quote would be left: the
    scan gets out of step only past an opening quote it left.) Otherwise these are the
    brackets, and a round taking out every `{}` and then every `[]` takes at most two levels
    off: emptied in r rounds, they nest at most 2r deep."""
    if b'"' in structure:
        return False
    for _ in range(max_depth // 2):
        if not structure:
            return True
        structure = structure.replace(b"{}", b"").replace(b"[]", b"")
    return not structure


class JsonGuard(io.RawIOBase):
    """The JSON bytes of `stream`, with containers nested deeper than `max_depth` and numbers
    out of range replaced by markers (see the module's docstring)."""

    def __init__(self, stream: BinaryIO, max_depth: int) -> None:
        super().__init__()
        self._stream = stream
        self._max_depth = max_depth
        self._in_string = False
        self._depth = 0
        self._cut_to: int | None = None  # in a cut container, until the depth is back here
        self._dropping = False  # in the rest of a refused number
        self._carry = b""  # the end of a chunk that is read with the next one
        self._out = b""
        self._taken = 0
        self._eof = False
        # Lexing state of one chunk (token by token).
        self._data = b""
        self._result = bytearray()
        self._keep: int | None = 0  # where the bytes still to copy start; None while cutting
        self._stop = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._taken == len(self._out) and not self._eof:
            chunk = self._stream.read(_CHUNK)
            self._eof = not chunk
            self._out, self._taken = self._process(chunk), 0
        size = min(len(buffer), len(self._out) - self._taken)
        memoryview(buffer).cast("B")[:size] = self._out[self._taken : self._taken + size]
        self._taken += size
        return size

    def _process(self, chunk: bytes) -> bytes:
        data = self._carry + chunk if self._carry else chunk
        self._carry = b""
        if chunk and self._cut_to is None and not self._dropping:
            unchanged = self._unchanged(data)
            if unchanged is not None:
                return unchanged
        return self._lex(data, final=not chunk)

    def _unchanged(self, data: bytes) -> bytes | None:
        """`data` less what is carried to the next chunk, when nothing in it needs a change
        (None when something may); the state moves past it."""
        outside, ends_in_string = _outside(_masked(data), self._in_string)
        if _SUSPECT.search(outside):
            return None
        brackets = outside.translate(None, _NOT_BRACKETS)
        opened = brackets.count(b"[") + brackets.count(b"{")
        limit = self._max_depth
        if self._depth + opened > limit and _peak_depth(brackets, self._depth) > limit:
            return None
        if ends_in_string:  # an odd backslash at the end escapes the next chunk's first byte
            held = (len(data) - len(data.rstrip(b"\\"))) % 2
        else:  # a number at the end may go on in the next chunk
            held = len(data) - len(data.rstrip(_NUMBER_BYTES))
            if held > MAX_NUMBER_CHARS:
                return None
        self._depth += 2 * opened - len(brackets)
        self._in_string = ends_in_string
        self._carry = data[len(data) - held :]
        return data[: len(data) - held]

    def _lex(self, data: bytes, *, final: bool) -> bytes:
        """`data` token by token, with its changes; what may go on is carried (unless final)."""
        self._data, self._result, self._stop = data, bytearray(), len(data)
        self._keep = None if self._cut_to is not None or self._dropping else 0
        position = 0
        while position < self._stop:
            if self._in_string:
                position = self._through_string(position, final)
            elif self._dropping:
                position = self._drop_number(position)
            elif self._cut_to is not None:
                position = self._through_cut(position)
            else:
                position = self._token(position, final)
        if self._keep is not None:
            self._result += data[self._keep : self._stop]
        self._carry = data[self._stop :]
        return bytes(self._result)

    def _hold(self, position: int, final: bool) -> int:
        """Stop here: the rest is read with the next chunk (or as it is, at the end)."""
        if not final:
            self._stop = position
        return self._stop

    def _replace(self, start: int, end: int, replacement: bytes) -> None:
        if self._keep is not None:
            self._result += self._data[self._keep : start]
        self._result += replacement
        self._keep = end

    def _through_string(self, position: int, final: bool) -> int:
        end = _STRING_BODY.match(self._data, position).end()  # type: ignore[union-attr]
        if end == len(self._data):
            return end
        if self._data[end] == _QUOTE:
            self._in_string = False
            return end + 1
        return self._hold(end, final)  # a lone backslash: its escaped byte comes next

    def _token(self, position: int, final: bool) -> int:
        data = self._data
        position = _PLAIN.match(data, position).end()  # type: ignore[union-attr]
        if position == len(data):
            return position
        byte = data[position]
        if byte == _QUOTE:
            self._in_string = True
            return position + 1
        if byte in _OPENERS:
            return self._open(position)
        if byte in _CLOSERS:
            end = _CLOSER_RUN.match(data, position).end()  # type: ignore[union-attr]
            self._depth -= end - position
            return end
        return self._number(position, final)

    def _open(self, position: int) -> int:
        """A run of openers; the one that goes a level too deep starts a cut."""
        end = _OPENER_RUN.match(self._data, position).end()  # type: ignore[union-attr]
        room = self._max_depth - self._depth
        if end - position <= room:
            self._depth += end - position
            return end
        cut = position + room
        self._replace(cut, cut, _DEPTH_JSON)
        self._keep = None
        self._cut_to = self._max_depth
        self._depth = self._max_depth + (end - cut)
        return end

    def _through_cut(self, position: int) -> int:
        """Inside a cut container: nothing is copied until it closes."""
        data = self._data
        quote = data.find(b'"', position, position + _WINDOW)
        stop = quote if quote >= 0 else min(len(data), position + _WINDOW)
        depths = list(accumulate(map(_DELTA.__getitem__, data[position:stop]), initial=self._depth))
        if self._cut_to in depths:
            closed = position + depths.index(self._cut_to)  # just after the closing byte
            self._depth, self._keep = depths[closed - position], closed
            self._cut_to = None
            return closed
        self._depth = depths[-1]
        if quote < 0:
            return stop
        self._in_string = True
        return quote + 1

    def _number(self, position: int, final: bool) -> int:
        end = _NUMBER.match(self._data, position).end()  # type: ignore[union-attr]
        if end == len(self._data) and not final:
            if end - position <= MAX_NUMBER_CHARS:
                return self._hold(position, final)  # it may go on in the next chunk
            self._replace(position, end, _NUMBER_JSON)
            self._keep, self._dropping = None, True
            return end
        token = self._data[position:end]
        checked = checked_number(token)
        if checked is not token:
            self._replace(position, end, checked)
        return end

    def _drop_number(self, position: int) -> int:
        end = _NUMBER.match(self._data, position).end()  # type: ignore[union-attr]
        if end < len(self._data):
            self._dropping, self._keep = False, end
        return end
