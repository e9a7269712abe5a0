"""The README's Alerts example, as written there: a watch, a receiver (the README's own
code), a contract notice ingested, then its change notice that moves a lot's deadline; the
receiver prints a `new` and then a `changed` event with the deadline's old and new value,
each with a valid signature, and `tenders deliveries` shows both sent."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.polling import wait_for
from tests.support.processes import run_cli
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

_BLOCK = re.compile(r"<!-- alerts-example-(?P<name>[a-z]+) -->\n```(?:python|sh)\n(.*?)```", re.S)


def _blocks() -> dict[str, str]:
    found = {m.group("name"): m.group(2) for m in _BLOCK.finditer((ROOT / "README.md").read_text())}
    assert {"receiver", "steps"} <= found.keys(), "the README's Alerts example is missing"
    return found


def _commands(steps: str, port: int) -> list[list[str]]:
    """The `tenders …` lines of the example (continuations joined), with the test's port."""
    joined = steps.replace("\\\n", " ").replace("8099", str(port))
    return [
        line.split("#")[0].split()[1:]
        for line in joined.splitlines()
        if line.startswith("tenders ")
    ]


@pytest.fixture
def receiver_port() -> int:
    return free_port()


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        process.kill()
        process.wait()


def _ok(env: dict[str, str], args: list[str]) -> str:
    done = run_cli(env, *args)
    assert done.returncode == 0, f"tenders {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_the_readme_alerts_example_works_as_written(
    env: dict[str, str], receiver_port: int, started: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    blocks = _blocks()
    env = {**env, "ALLOW_PRIVATE_WEBHOOKS": "true"}
    add, *rest = _commands(blocks["steps"], receiver_port)
    assert add[:2] == ["watch", "add"]
    secret = re.search(r"whsec_[\w-]+", _ok(env, add))
    assert secret, "watch add prints the secret"
    script = tmp_path / "receiver.py"
    script.write_text(blocks["receiver"].replace("8099", str(receiver_port)))
    output = tmp_path / "received.txt"
    with output.open("w") as sink:
        started.append(
            subprocess.Popen(
                [sys.executable, str(script)],
                cwd=ROOT,
                env={**env, "WATCH_SECRET": secret.group(0), "PYTHONPATH": str(ROOT)},
                stdout=sink,
                stderr=subprocess.DEVNULL,  # the server's access log
                text=True,
            )
        )
    wait_for(lambda: _listening(receiver_port), 20, "the example's receiver")
    printed = ""
    for args in rest:
        printed = _ok(env, args)
    lines = output.read_text().splitlines()
    assert len(lines) == 2, lines
    assert re.match(r"[0-9a-f-]{36} new Lotto 2: pulizia .*signature ok$", lines[0])
    assert re.match(
        r"[0-9a-f-]{36} changed Lotto 2: pulizia .*deadline_at.*signature ok$", lines[1]
    )
    assert "2024-05-06" in lines[1]
    assert printed.count("sent") >= 2, printed  # the last step: tenders deliveries


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0
