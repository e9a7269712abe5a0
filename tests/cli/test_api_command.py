"""`tenders api` and `tenders api-token`: the API is served without tokens only on this
machine (or when the operator says --insecure), and a new token works as printed."""

from __future__ import annotations

import socket
import subprocess
import sys

import httpx
import psutil
import pytest

from configs.config import Settings
from configs.tokens import match
from tests.support.paths import ROOT
from tests.support.polling import wait_for
from tests.support.processes import run_cli

pytestmark = pytest.mark.slow


def without_api_settings(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("API_")}


def new_token(env: dict[str, str], *args: str) -> tuple[str, str]:
    made = run_cli(env, "api-token", *args)
    assert made.returncode == 0, made.stderr
    lines = dict(line.split(": ", 1) for line in made.stdout.splitlines())
    return lines["token"], lines["API_TOKENS entry"]


def test_api_token_prints_a_token_and_its_entry(env: dict[str, str]) -> None:
    token, entry = new_token(env, "ci", "--scope", "read,write")
    [configured] = Settings(api_tokens=entry).api_tokens
    assert configured.name == "ci" and configured.scopes == {"read", "write"}
    assert token not in entry, "only the hash is configured"
    assert match([configured], token) == configured
    assert new_token(env, "ci")[0] != token, "every token is new"
    wrong = run_cli(env, "api-token", "ci", "--scope", "read,admin")
    assert wrong.returncode == 2 and "unknown scope admin" in wrong.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "api.example.org"])
def test_api_refuses_a_public_address_without_tokens(env: dict[str, str], host: str) -> None:
    refused = run_cli(without_api_settings(env), "api", "--host", host, "--port", "1")
    assert refused.returncode == 2, refused.stderr
    assert f"refusing to serve the API on {host} without API_TOKENS" in refused.stderr


def test_insecure_serves_without_tokens_and_says_so(env: dict[str, str]) -> None:
    code = (
        "import os; from src.cli.serve_api import allow_without_tokens; "
        "allow_without_tokens('0.0.0.0', insecure=True); print(os.environ['API_INSECURE'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=without_api_settings(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "true"
    assert "answers anyone without a token" in result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_served_with_tokens_the_api_wants_one(env: dict[str, str]) -> None:
    token, entry = new_token(env, "reader")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "src.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env={**without_api_settings(env), "API_TOKENS": entry},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(answers, 30, "the API to answer /healthz")
        assert httpx.get(f"{base}/tenders").status_code == 401
        authorized = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/tenders", headers=authorized).status_code == 200
        assert httpx.get(f"{base}/metrics", headers=authorized).status_code == 403
        other_host = {**authorized, "Host": "evil.example"}
        assert httpx.get(f"{base}/tenders", headers=other_host).status_code == 400
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_several_workers_serve_one_port(env: dict[str, str]) -> None:
    """`--workers 2`: two API processes behind uvicorn's supervisor, one port, the same
    answers (with the access log off)."""
    token, entry = new_token(env, "reader")
    port = free_port()
    command = ["api", "--port", str(port), "--workers", "2", "--no-access-log"]
    server = subprocess.Popen(
        [sys.executable, "-m", "src.cli", *command],
        cwd=ROOT,
        env={**without_api_settings(env), "API_TOKENS": entry},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    authorized = {"Authorization": f"Bearer {token}"}

    def both_answer() -> bool:
        try:
            healthy = httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False
        return healthy and len(psutil.Process(server.pid).children()) >= 2

    try:
        wait_for(both_answer, 60, "two API processes to answer /healthz")
        with httpx.Client(base_url=base, headers=authorized) as http:
            assert {http.get("/tenders").status_code for _ in range(10)} == {200}
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert b"GET /tenders" not in output, "no access log"
