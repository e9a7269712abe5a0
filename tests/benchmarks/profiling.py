"""--profile: one extra (c), not counted, under py-spy, and where the worker's time went."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

from tests.benchmarks.measure import log
from tests.benchmarks.pipeline import ingest
from tests.benchmarks.workspace import Databases
from tests.support.servers import Servers


async def profile_worker(
    servers: Servers, databases: Databases, source: Path, logs: Path, out: Path
) -> dict[str, Any]:
    """One extra (c), not counted, under py-spy: where the worker's time goes."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise RuntimeError("--profile needs py-spy (pip install py-spy)")
    raw = out.with_suffix(".txt")
    log(f"profiling one more (c) with py-spy into {raw}")
    wrap = [spy, "record", "--format", "raw", "--threads", "--rate", "200", "-o", str(raw), "--"]
    async with databases.fresh() as url:
        result = await ingest(servers, url, source, logs=logs, label="profile", wrap=wrap)
    return {
        "file": str(raw),
        "rows_per_second_under_profiler": result.rate,
        **summarise_profile(raw),
    }


def summarise_profile(raw: Path, top: int = 25) -> dict[str, Any]:
    """From py-spy's collapsed stacks: sample shares per thread, per package (by the frame that
    was running), per function (self), and per project function (inclusive)."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    threads: dict[str, int] = {}
    packages: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        thread = frames[0] if frames[0].startswith("thread") else "?"
        threads[thread] = threads.get(thread, 0) + count
        leaf = frames[-1]
        packages[_package(leaf)] = packages.get(_package(leaf), 0) + count
        own[_short(leaf)] = own.get(_short(leaf), 0) + count
        for frame in {_short(f) for f in frames if _package(f) == "project"}:
            inclusive[frame] = inclusive.get(frame, 0) + count

    def ranked(table: dict[str, int], limit: int = top) -> list[tuple[str, float]]:
        best = sorted(table.items(), key=lambda kv: -kv[1])[:limit]
        return [(name, round(count / max(total, 1), 4)) for name, count in best]

    return {
        "samples": total,
        "threads": ranked(threads),
        "packages": ranked(packages, 15),
        "self": ranked(own),
        "inclusive_project": ranked(inclusive),
    }


_FRAME = re.compile(r"^(.*) \((.*?):\d+\)$")


# Leaves where a thread waits rather than works (idle pool threads, the event loop's poll).
_WAITING = {"_worker", "EpollSelector.select", "select", "Condition.wait", "wait"}


def _package(frame: str) -> str:
    """Who a frame belongs to: `project`, a distribution (`sqlalchemy`), `stdlib`, `asyncio`.
    py-spy shortens paths to the import root (`src/infra/x.py`, `sqlalchemy/orm/y.py`)."""
    match = _FRAME.match(frame)
    if not match:
        return "(thread root)"
    if match.group(1) in _WAITING:
        return "(waiting)"
    path = match.group(2)
    if path.startswith("<frozen"):
        return "imports"
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/lib/python3" in path:
        path = path.split("/lib/python3", 1)[1].split("/", 1)[-1]
    top = Path(path).parts[0].removesuffix(".py") if Path(path).parts else path
    if top in ("src", "workers", "configs", "tests"):
        return "project"
    if top == "asyncio":
        return "asyncio"
    return "stdlib" if top in sys.stdlib_module_names else top


def _short(frame: str) -> str:
    """`func (path/to/module.py:12)` -> `func (to/module.py)`: lines merged per function."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    name, path = match.groups()
    parts = Path(path).parts
    where = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{name} ({where})"
