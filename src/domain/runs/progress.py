"""How far a run is, from its row alone (the worker writes bytes and counts with each batch),
so the CLI and the API show the same numbers for a run whichever process runs it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from src.domain.runs.entities import IngestRun, RunStatus


@dataclass(frozen=True)
class RunProgress:
    """`records`: tenders written or unchanged, and rejections (every record of the source
    is one of them). `rate_per_second`: records per second since the attempt started.
    `eta_seconds`: the bytes still to read at the rate the read ones took (None while the
    total or a rate is unknown, once every byte is read, and once the run has finished)."""

    bytes_read: int
    bytes_total: int | None
    records: int
    rejected: int
    seconds: float | None
    rate_per_second: float | None
    eta_seconds: float | None
    updated_at: datetime | None

    @property
    def fraction(self) -> float | None:
        if not self.bytes_total:
            return None
        return min(self.bytes_read / self.bytes_total, 1.0)


def run_progress(run: IngestRun) -> RunProgress:
    """The progress of `run` as its row last said: the rate over the time from its start to
    its last progress write (or its end), the ETA from the bytes still to read."""
    records = run.inserted + run.updated + run.unchanged + run.rejected
    end = run.finished_at or run.progress_at
    seconds = None
    if run.started_at is not None and end is not None and end > run.started_at:
        seconds = (end - run.started_at).total_seconds()
    rate = records / seconds if seconds else None
    eta = None
    unfinished = run.status in (RunStatus.QUEUED, RunStatus.RUNNING)
    if unfinished and seconds and run.bytes_total and run.bytes_read:
        remaining = run.bytes_total - run.bytes_read
        eta = remaining * seconds / run.bytes_read if remaining > 0 else None
    return RunProgress(
        bytes_read=run.bytes_read or 0,
        bytes_total=run.bytes_total,
        records=records,
        rejected=run.rejected,
        seconds=seconds,
        rate_per_second=rate,
        eta_seconds=eta,
        updated_at=run.progress_at,
    )
