"""The long-running processes (the worker, the API server) tune the garbage collector once,
when they start. Each case runs in a fresh interpreter: the tuning is process-wide."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.support.paths import ROOT
from tests.support.servers import Servers

_TUNED = (100_000, 50, 100)


def _python(code: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_collector_is_tuned_once_per_process() -> None:
    assert _python(
        """
        import gc
        from src.infra.runtime import tune_garbage_collector
        default = gc.get_threshold()
        tune_garbage_collector()
        frozen = gc.get_freeze_count()
        kept = [[] for _ in range(1000)]  # a second call would freeze these too
        tune_garbage_collector()
        print(default, gc.get_threshold(), frozen > 0, gc.get_freeze_count() == frozen)
        """
    )[-5:] == ["(100000,", "50,", "100)", "True", "True"]


def test_the_api_tunes_it_as_it_starts(servers: Servers) -> None:
    code = f"""
        import asyncio, gc
        from configs.config import Settings
        from src.api import create_app

        app = create_app(Settings(database_url={servers.database_url!r},
                                  redis_url={servers.redis_url!r}))
        before = gc.get_threshold()

        async def main():
            async with app.router.lifespan_context(app):
                print(before != {_TUNED!r}, gc.get_threshold() == {_TUNED!r},
                      gc.get_freeze_count() > 0)

        asyncio.run(main())
        """
    assert _python(code) == ["True", "True", "True"]


def test_a_service_runs_on_uvloop_and_returns_what_its_coroutine_returns() -> None:
    assert _python(
        """
        import asyncio
        from src.infra.runtime import run_service

        async def main():
            await asyncio.sleep(0)
            return type(asyncio.get_running_loop()).__module__.split(".")[0]

        print(run_service(main()), asyncio.get_event_loop_policy().__module__.split(".")[0])
        """
    ) == ["uvloop", "asyncio"]  # the process's policy is left as it was
