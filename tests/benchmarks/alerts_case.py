"""(j): (c) with 1,000 watches. The same source into a fresh database where 1,000 watches
(tests/benchmarks/watches.py) wait, their webhooks on a local receiver that answers 204: the
ingest writes its alert events in its own transactions, the dispatcher (woken after each
committing batch, in the same burst worker) matches them in SQL and sends the deliveries.
Figures: the ingest's rate (enqueue -> last run committed, as (c)), and the time until the
last delivery was sent (everything the ingest produced, delivered)."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from sqlalchemy import func, select

from tests.benchmarks import project
from tests.benchmarks.project import Delivery, TenderEvent
from tests.benchmarks.watches import watch_specs
from tests.support.receivers import receiving

WATCHES = 1_000
# The receiver is on loopback; the dispatcher sends what it matched as fast as it can.
ALERTS_ENV = {"ALLOW_PRIVATE_WEBHOOKS": "true", "WEBHOOK_BACKOFF_SECONDS": "1"}


async def add_watches(url: str, count: int, hook: str) -> None:
    async with project.sessions_of(url) as sessions, sessions() as session, session.begin():
        for spec in watch_specs(count):
            await project.WatchService.create(
                session, project.WatchSpec(webhook_url=hook, **spec), owner="bench"
            )


async def delivery_figures(url: str) -> dict[str, Any]:
    """Deliveries by status, the events still unmatched, and when the last was sent."""
    async with project.sessions_of(url) as sessions, sessions() as session:
        statuses = dict(
            (await session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)))
            .tuples()
            .all()
        )
        pending_events = await session.scalar(
            select(func.count()).select_from(TenderEvent).where(TenderEvent.matched_at.is_(None))
        )
        last_sent = await session.scalar(select(func.max(Delivery.sent_at)))
    return {
        "deliveries": {str(k): int(v) for k, v in statuses.items()},
        "unmatched_events": int(pending_events or 0),
        "last_sent_epoch": last_sent.timestamp() if last_sent else None,
    }


async def _delivered(url: str) -> bool:
    """Every event matched and no delivery left to send: the workers may stop."""
    figures = await delivery_figures(url)
    return not figures["unmatched_events"] and not figures["deliveries"].get("pending")


async def case_watches(bench: Any, rep: int, base: Any) -> None:
    """(j) on a fresh database: 1,000 watches, then the source, as (c)."""
    try:
        with receiving() as receiver:
            async with bench.databases.fresh() as url:
                await add_watches(url, WATCHES, receiver.url())
                started = time.time()
                result = await bench.ingest(
                    url, base, f"j{rep}", extra_env=ALERTS_ENV, settled=partial(_delivered, url)
                )
                figures = await delivery_figures(url)
        case = bench.cases["j"]
        case.record(result)
        last = figures.pop("last_sent_epoch")
        figures["delivered_seconds"] = None if last is None else last - started
        figures["posts_received"] = len(receiver.received)
        case.details[-1]["alerts"] = figures
        bench.outcome.check("(j)", result, inserted=base.tenders, tenders_in_db=base.tenders)
        if figures["unmatched_events"] or figures["deliveries"].get("pending"):
            bench.outcome.problems.append(f"(j) round {rep}: not all delivered: {figures}")
    except Exception as error:  # noqa: BLE001 - reported, the other cases still run
        bench.outcome.failed(f"(j) round {rep}", error)


def _alerts(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [d["alerts"] for d in results["cases"]["j"]["details"] if "alerts" in d]


def summary(results: dict[str, Any]) -> str:
    """The last round's deliveries and when the last of them was sent."""
    rounds = _alerts(results)
    if not rounds:
        return "not run"
    last = rounds[-1]
    sent = last["deliveries"].get("sent", 0)
    seconds = last["delivered_seconds"]
    done = f"all sent {seconds:,.1f} s after enqueue" if seconds is not None else "none sent"
    return f"{sent:,} deliveries in {last['posts_received']:,} POSTs, {done}"


def render_lines(results: dict[str, Any]) -> list[str]:
    case = results["cases"]["j"]
    if not case["runs"]:
        return []
    runs = " ".join(f"{value:,.0f}" for value in case["runs"])
    rate = case["rows_per_second"]
    return [
        f"(j) {case['title']:<58} {rate:>10,.0f}  {runs:<26} {summary(results)}",
        f"    j/c {results['ratios'].get('j/c') or 0:.2f} (target >= 0.85: 1,000 watches slow a "
        "fresh ingest by at most 15%)",
    ]
