"""The size rules of the code, checked like any other rule: no function in src/ or workers/
longer than 60 lines, no module longer than 400 (small units are what a reader can hold)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import ROOT

MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400
CHECKED = ("src", "workers", "configs")


def _modules() -> list[Path]:
    return sorted(
        path
        for folder in CHECKED
        for path in (ROOT / folder).rglob("*.py")
        if "migrations/versions" not in path.as_posix()
    )


def test_no_module_is_longer_than_the_limit() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in _modules()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines"


def test_no_function_is_longer_than_the_limit() -> None:
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = lines
    assert long == {}, f"functions over {MAX_FUNCTION_LINES} lines"
