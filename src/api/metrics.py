"""Prometheus figures about ingestion, read from `ingest_runs` at scrape time: PostgreSQL is
the truth about jobs, so every API replica reports the same numbers and a restart loses none.

Series (all derived from the table, so counters only fall if runs are deleted):
- tenders_ingest_jobs{status}: runs by status (queued, running, complete, failed)
- tenders_ingest_rows_total{outcome}: records inserted, updated, unchanged, rejected
- tenders_ingest_rejections_total: records rejected (stored with a reason)
- tenders_ingest_duration_seconds{status}: histogram of finished runs' last attempt
  (finished_at - started_at)
- tenders_ingest_oldest_queued_seconds: age of the oldest queued run (0 when none)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import IngestRun, RunStatus

DURATION_BUCKETS: tuple[float, ...] = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600)
ROW_OUTCOMES = ("inserted", "updated", "unchanged", "rejected")
FINISHED = (RunStatus.COMPLETE.value, RunStatus.FAILED.value)


@dataclass
class Durations:
    count: int = 0
    total: float = 0.0
    # Cumulative counts, one per bucket of DURATION_BUCKETS.
    buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))


@dataclass
class IngestSnapshot:
    jobs: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in RunStatus})
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROW_OUTCOMES, 0))
    durations: dict[str, Durations] = field(
        default_factory=lambda: {status: Durations() for status in FINISHED}
    )
    oldest_queued_seconds: float = 0.0


async def collect(session: AsyncSession) -> IngestSnapshot:
    snapshot = IngestSnapshot()
    by_status = await session.execute(
        select(
            IngestRun.status,
            func.count(),
            func.coalesce(func.sum(IngestRun.inserted), 0),
            func.coalesce(func.sum(IngestRun.updated), 0),
            func.coalesce(func.sum(IngestRun.unchanged), 0),
            func.coalesce(func.sum(IngestRun.rejected), 0),
            func.min(IngestRun.queued_at),
            func.now(),
        ).group_by(IngestRun.status)
    )
    for status, count, inserted, updated, unchanged, rejected, first_queued, now in by_status:
        snapshot.jobs[status] = int(count)
        sums = (inserted, updated, unchanged, rejected)
        for outcome, value in zip(ROW_OUTCOMES, sums, strict=True):
            snapshot.rows[outcome] += int(value)
        if status == RunStatus.QUEUED and first_queued is not None:
            snapshot.oldest_queued_seconds = max(0.0, (now - first_queued).total_seconds())
    await _collect_durations(session, snapshot)
    return snapshot


async def _collect_durations(session: AsyncSession, snapshot: IngestSnapshot) -> None:
    seconds = extract("epoch", IngestRun.finished_at - IngestRun.started_at)
    columns = [func.count().filter(seconds <= bound) for bound in DURATION_BUCKETS]
    result = await session.execute(
        select(IngestRun.status, func.count(), func.coalesce(func.sum(seconds), 0), *columns)
        .where(
            IngestRun.status.in_(FINISHED),
            IngestRun.started_at.is_not(None),
            IngestRun.finished_at.is_not(None),
        )
        .group_by(IngestRun.status)
    )
    for status, count, total, *buckets in result:
        snapshot.durations[status] = Durations(int(count), float(total), [int(b) for b in buckets])


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: IngestSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot
        jobs = GaugeMetricFamily("tenders_ingest_jobs", "Ingest runs by status.", labels=["status"])
        for status, count in sorted(snapshot.jobs.items()):
            jobs.add_metric([status], count)
        yield jobs
        rows = CounterMetricFamily(
            "tenders_ingest_rows", "Records ingested, by outcome.", labels=["outcome"]
        )
        for outcome in ROW_OUTCOMES:
            rows.add_metric([outcome], snapshot.rows[outcome])
        yield rows
        yield CounterMetricFamily(
            "tenders_ingest_rejections",
            "Records rejected (stored with a reason; see `tenders rejections RUN_ID`).",
            value=snapshot.rows["rejected"],
        )
        durations = HistogramMetricFamily(
            "tenders_ingest_duration_seconds",
            "Duration of finished ingest runs (their last attempt).",
            labels=["status"],
        )
        for status in FINISHED:
            figures = snapshot.durations[status]
            buckets = [
                (repr(float(bound)), count)
                for bound, count in zip(DURATION_BUCKETS, figures.buckets, strict=True)
            ]
            buckets.append(("+Inf", figures.count))
            durations.add_metric([status], buckets, sum_value=figures.total)
        yield durations
        yield GaugeMetricFamily(
            "tenders_ingest_oldest_queued_seconds",
            "Age of the oldest queued ingest run, in seconds (0 when none is queued).",
            value=snapshot.oldest_queued_seconds,
        )


def render(snapshot: IngestSnapshot) -> bytes:
    """The Prometheus text exposition of a snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snapshot))
    return generate_latest(registry)
