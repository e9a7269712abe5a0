"""What reading one document may cost: the application layer builds these from the settings
(readers never read the settings themselves)."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_MAX_JSON_DEPTH = 64
DEFAULT_MAX_OBJECT_BYTES = 64 * 1024**2


@dataclass(slots=True)
class ReadHints:
    """What the application layer has learnt about the source while writing it, changed as
    it goes (a reader checks it item by item). `lines_unread`: a JSON line that stands for
    exactly one item is handed on unread (`UnreadLine`) with its digest, to be parsed by the
    application layer when it needs it: right before mapping while the source's lines are
    mostly new (so that only the line's bytes wait in memory, not its parsed document), and
    only if that digest is not known while they were mostly stored before. `json_lines`: the
    source is JSON Lines (a chunk of a file that is), read line by line whatever its first
    line holds (a chunk starts at any line, a broken one too). `first_line`: the number in
    its file of the stream's first line (a chunk's), from which JSON lines are counted."""

    lines_unread: bool = False
    json_lines: bool = False
    first_line: int = 1


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """`max_json_depth`: how deeply arrays and objects may nest in one JSON document (a
    package, a JSON line, an ANAC item), counted from the document's top (MAX_JSON_DEPTH).
    `max_object_bytes`: how large one release, record, JSON line, ANAC item or a package's own
    fields may be (MAX_OBJECT_BYTES). Past either, that item is a rejection, not read."""

    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES
    hints: ReadHints = field(default_factory=ReadHints, compare=False)

    def reason(self, problem: str) -> str:
        """Why an item was not read, after its position ("release 3 ...")."""
        if problem == "depth":
            return f"is nested deeper than {self.max_json_depth} levels (MAX_JSON_DEPTH): not read"
        if problem == "number":
            return "has a number beyond the range of a 64-bit float: not read"
        return (
            f"is larger than {self.max_object_bytes} bytes (MAX_OBJECT_BYTES): not read "
            "(a single publication this size is broken input)"
        )
