"""`tenders worker --processes N`: N worker processes on one machine, each a whole `tenders
worker` (its own interpreter, event loop, engine and Redis pool: Python runs one job's CPU
work at a time per process), sharing the queue. A large JSON Lines file is split into chunk
jobs (src.ingest.chunked), so the N processes share one big source too.

The parent only supervises. It starts the children in a process group of their own, so a
Ctrl-C on the terminal reaches the parent alone, and forwards SIGINT / SIGTERM to each child
once: arq's graceful shutdown (running ingests go back to the queue). A child that dies
unexpectedly is started again after 1, 2, 4 ... s (one log line). The parent exits when all
children have exited. A child whose parent is killed stops itself (`stopped_when_orphaned`).
With --burst every child drains the queue, and the parent prints the one summary of the runs
they ran and exits 1 if a job failed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from configs.config import Settings
from src.cli import progress
from src.cli.bootstrap import WORKER_NUMBER_ENV
from src.cli.errors import EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE, CliError
from src.cli.worker import (
    PARENT_ENV,
    STEADY_SECONDS,
    backoff_delays,
    not_ready,
    read_job_ids,
    report_runs,
)
from src.infra.database import create_engine, create_session_factory

log = logging.getLogger("tenders.worker")

MAX_PROCESSES = 64
STOP_SECONDS = 120.0  # how long a child that was told to stop may take before it is killed


def parse_processes(value: str) -> int:
    """--processes: a whole number from 1 to MAX_PROCESSES, or a one-line error (exit 2)."""
    count = int(value) if value.strip().isdigit() else 0
    if not 1 <= count <= MAX_PROCESSES:
        raise CliError(
            f"--processes {value!a}: give a whole number of worker processes "
            f"from 1 to {MAX_PROCESSES}"
        )
    return count


def died(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


@dataclass
class Child:
    number: int
    jobs_file: Path | None  # a burst child writes the ids of the jobs it started here
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    delays: Iterator[float] = field(default_factory=backoff_delays)
    restarts: int = 0
    exit_code: int | None = None  # how it ended, once it is not started again

    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


class Supervisor:
    def __init__(self, count: int, *, burst: bool, folder: Path | None, verbose: bool) -> None:
        self.burst = burst
        self.verbose = verbose
        self.children = [
            Child(number, folder / f"jobs-{number}.json" if folder else None)
            for number in range(1, count + 1)
        ]
        self.stop_requested = asyncio.Event()

    def command(self, child: Child) -> list[str]:
        command = [sys.executable, "-m", "src.cli", *(["-v"] if self.verbose else []), "worker"]
        if child.jobs_file is not None:
            command += ["--burst", "--jobs-file", str(child.jobs_file)]
        return command

    async def start(self, child: Child) -> None:
        env = {**os.environ, PARENT_ENV: str(os.getpid()), WORKER_NUMBER_ENV: str(child.number)}
        # A group of its own (`process_group=0`, which uvloop's loop does not take).
        child.process = await asyncio.create_subprocess_exec(
            *self.command(child), env=env, preexec_fn=os.setpgrp
        )
        child.started_at = time.monotonic()
        if self.stop_requested.is_set():  # the signal came while it was starting
            child.process.send_signal(signal.SIGTERM)

    def forward(self, signum: int) -> None:
        """SIGINT / SIGTERM: passed on to every running child; nothing is started again."""
        if not self.stop_requested.is_set():
            name = signal.Signals(signum).name
            log.info("stopping %d worker processes (%s)", len(self.children), name)
        self.stop_requested.set()
        for child in self.children:
            if child.process is not None and child.running():
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signum)

    def finished(self, code: int) -> bool:
        """Whether a child that exited with `code` is done: a burst child that drained the
        queue (0, or 1 when a job failed), or one that cannot go on (2: a configuration
        error; 3: a server unreachable, for a burst)."""
        return code in (EXIT_USAGE, EXIT_UNREACHABLE) or (self.burst and code in (0, EXIT_FAILED))

    async def keep(self, child: Child) -> None:
        """Run one child until it is done, starting it again after an unexpected exit."""
        while True:
            await self.start(child)
            assert child.process is not None
            code = await child.process.wait()
            if self.stop_requested.is_set() or self.finished(code):
                child.exit_code = code
                return
            if time.monotonic() - child.started_at > STEADY_SECONDS:
                child.delays = backoff_delays()
            delay = next(child.delays)
            child.restarts += 1
            log.warning(
                "worker process %d (pid %d) %s; starting it again in %.0f s (restart %d)",
                child.number,
                child.process.pid,
                died(code),
                delay,
                child.restarts,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_requested.wait(), delay)
                child.exit_code = code  # told to stop while it waited
                return

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.forward, signum)
        try:
            await asyncio.gather(*(self.keep(child) for child in self.children))
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            await self.stop_the_rest()

    async def stop_the_rest(self) -> None:
        """When the parent itself fails: no child is left running behind it."""
        running = [child.process for child in self.children if child.running()]
        for process in running:
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in running:
            if process is not None:
                try:
                    await asyncio.wait_for(process.wait(), STOP_SECONDS)
                except TimeoutError:
                    process.kill()

    def job_ids(self) -> list[str]:
        return [
            job_id
            for child in self.children
            if child.jobs_file is not None
            for job_id in read_job_ids(child.jobs_file)
        ]


async def supervise(settings: Settings, count: int, *, burst: bool, verbose: bool) -> int:
    """Run `count` worker processes until they are done (--burst) or stopped; the exit code."""
    if burst and (problem := await not_ready(settings)) is not None:
        raise problem
    log.info("starting %d worker processes", count)
    with tempfile.TemporaryDirectory(prefix="tenders-worker-") as folder:
        supervisor = Supervisor(
            count, burst=burst, folder=Path(folder) if burst else None, verbose=verbose
        )
        if burst:
            engine = create_engine(settings)
            try:
                async with progress.watching(create_session_factory(engine), running=True):
                    await supervisor.run()
            finally:
                await engine.dispose()
        else:
            await supervisor.run()
        job_ids = supervisor.job_ids()
    codes = {child.exit_code for child in supervisor.children}
    for code in (EXIT_USAGE, EXIT_UNREACHABLE):
        if code in codes:  # the child said why on stderr
            return code
    if not burst:
        return 0
    return await report_runs(settings, job_ids, failed=EXIT_FAILED in codes)
