"""`tenders worker` reconnects whatever redis-py raises when Redis goes away under arq's poll,
the WatchError of a connection lost while a key is watched included (it once ended a worker
whose Redis restarted at that moment). arq's worker is stood in for: what it raises is
redis-py's, and when it raises it depends on the moment of the restart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.exceptions

from configs.config import Settings
from src.cli import worker as worker_command

# Never reached: the servers are not probed, and the worker stood in for never connects.
_SETTINGS = Settings(
    database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none", redis_url="redis://127.0.0.1:1/0"
)


class _Worker:
    """Raises the next of `outcomes` from each run; the last, a cancellation, is a signal."""

    def __init__(self, outcomes: list[BaseException], runs: list[str]) -> None:
        self.outcomes, self.runs = outcomes, runs
        self.on_shutdown = None
        self.ctx: dict[str, Any] = {}

    async def async_run(self) -> None:
        self.runs.append("run")
        raise self.outcomes.pop(0)

    async def close(self) -> None:
        self.runs.append("close")


@pytest.mark.parametrize(
    "lost",
    [
        redis.exceptions.WatchError(
            "A ConnectionError occurred on while watching one or more keys"
        ),
        redis.exceptions.ConnectionError("Connection closed by server."),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
        ConnectionResetError("reset by peer"),
    ],
    ids=["watch", "connection", "timeout", "socket"],
)
async def test_a_worker_that_loses_redis_reconnects(
    lost: BaseException, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[str] = []
    outcomes: list[BaseException] = [lost, asyncio.CancelledError()]

    async def ready(settings: Settings) -> None:
        return None

    monkeypatch.setattr(worker_command, "not_ready", ready)
    monkeypatch.setattr(
        "workers.main.create_worker", lambda *args, **kwargs: _Worker(outcomes, runs)
    )
    await worker_command.run_forever(_SETTINGS)
    assert runs == ["run", "close", "run", "close"]


async def test_any_other_error_ends_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[str] = []

    async def ready(settings: Settings) -> None:
        return None

    monkeypatch.setattr(worker_command, "not_ready", ready)
    monkeypatch.setattr(
        "workers.main.create_worker",
        lambda *args, **kwargs: _Worker([redis.exceptions.ResponseError("WRONGTYPE")], runs),
    )
    with pytest.raises(redis.exceptions.ResponseError):
        await worker_command.run_forever(_SETTINGS)
    assert runs == ["run"]
