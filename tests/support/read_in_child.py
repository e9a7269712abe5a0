"""Reads one file with the format's reader in a process of its own, for inputs that used to
kill the process (a crash in C cannot be caught): one JSON line per item on stdout.

    python -m tests.support.read_in_child FORMAT PATH
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from src.domain.formats import Format
from src.domain.tender.schemas import RejectedRecord
from src.readers import read_source
from tests.support.paths import ROOT


def main() -> None:
    format_name, path = sys.argv[1], Path(sys.argv[2])
    with path.open("rb") as stream:
        for item in read_source(stream, path.name, format=Format(format_name)):
            row = {"type": type(item).__name__, "position": getattr(item, "position", None)}
            if isinstance(item, RejectedRecord):
                row["reason"] = item.reason
            sys.stdout.buffer.write(orjson.dumps(row) + b"\n")


def read_in_child(
    format_name: str, path: Path, *, address_space: int, timeout: float = 120
) -> tuple[int, list[dict[str, Any]], str]:
    """Exit code, the items read and the end of stderr, of reading `path` in a child process
    limited to `address_space` bytes."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.limited",
            str(address_space),
            sys.executable,
            "-m",
            "tests.support.read_in_child",
            format_name,
            str(path),
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    items = [orjson.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, items, done.stderr.decode(errors="replace")[-2000:]


if __name__ == "__main__":
    main()
