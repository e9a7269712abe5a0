"""The life of an ingest run, as rows: queued -> running -> complete | failed. Each batch's
counts and checkpoint are written in the batch's own transaction, so they never disagree
with the tenders they describe."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, ScalarSelect, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import IngestChunk, IngestRun, Rejection, RunStatus
from src.domain.runs.request import IngestRequest
from src.domain.tender.schemas import FieldWarning, RejectedRecord, UpsertCounts

# A field warning and where in the source its tender came from.
PositionedWarning = tuple[str | None, FieldWarning]


class RunService:
    @staticmethod
    async def queue(session: AsyncSession, request: IngestRequest, *, job_id: str) -> None:
        """Record a queued run, every field of its request; a no-op when the worker already
        created it (it may start before the enqueuer gets here)."""
        statement = (
            pg_insert(IngestRun)
            .values(**_request_columns(request), job_id=job_id, status=RunStatus.QUEUED)
            .on_conflict_do_nothing(index_elements=[IngestRun.id])
        )
        await session.execute(statement)

    @staticmethod
    async def start(
        session: AsyncSession,
        request: IngestRequest,
        *,
        job_id: str | None,
        max_attempts: int,
    ) -> IngestRun:
        """Mark the run running (creating it if the enqueuer has not yet), one more attempt.
        The request's fields are written again: the row always says what this attempt runs.
        A run not split into chunks that already had `max_attempts` without finishing (its
        worker died, or it was cut short) fails instead: the returned run says so."""
        spent = await _unfinished_attempts(session, request.run_id)
        if spent is not None and spent[0] >= max_attempts:
            failed = await RunService.finish(session, request.run_id, error=gave_up(*spent))
            if failed is not None:  # it is: the row was read under lock
                return failed
        now = datetime.now(UTC)
        columns = _request_columns(request)
        insert = pg_insert(IngestRun).values(
            **columns,
            job_id=job_id,
            status=RunStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            attempts=1,
        )
        columns.pop("id")
        statement = insert.on_conflict_do_update(
            index_elements=[IngestRun.id],
            set_={
                **columns,
                "status": RunStatus.RUNNING,
                "started_at": now,
                "heartbeat_at": now,
                "finished_at": None,
                "error": None,
                "attempts": IngestRun.attempts + 1,
            },
        ).returning(IngestRun)
        result = await session.execute(statement)
        return result.scalar_one()

    @staticmethod
    async def give_up(session: AsyncSession, run: IngestRun) -> IngestRun | None:
        """Fail a run whose attempts are spent (the sweeper, for a run Redis no longer has)."""
        reason = lost_reason(run.status, run.error)
        return await RunService.finish(session, run.id, error=gave_up(run.attempts, reason))

    @staticmethod
    async def set_fingerprint(session: AsyncSession, run: IngestRun, fingerprint: str) -> int:
        """Where to resume: the committed checkpoint when the source's bytes are the same as
        in an earlier attempt, else 0 (a changed source is read again from its start)."""
        resume_from = run.records_done if run.source_fingerprint == fingerprint else 0
        await session.execute(
            update(IngestRun)
            .where(IngestRun.id == run.id)
            .values(source_fingerprint=fingerprint, records_done=resume_from)
        )
        return resume_from

    @staticmethod
    async def record_batch(
        session: AsyncSession,
        run_id: uuid.UUID,
        *,
        source: str,
        counts: UpsertCounts,
        rejected: Sequence[RejectedRecord],
        records_done: int,
        chunk_id: uuid.UUID | None = None,
        warnings: Sequence[PositionedWarning] = (),
        bytes_read: int | None = None,
        bytes_total: int | None = None,
    ) -> None:
        """Counts add up on the run; the checkpoint is the run's, or its chunk's. `warnings`
        (fields left empty in kept tenders) are stored beside the rejections, kind `field`.
        `bytes_read` of `bytes_total` is the progress in the source (a chunk's: in its range;
        the run's is then the sum over its chunks), written in the same statements."""
        _add_rejections(session, run_id, source, rejected, warnings)
        now = datetime.now(UTC)
        values: dict[str, object] = {
            "inserted": IngestRun.inserted + counts.inserted,
            "updated": IngestRun.updated + counts.updated,
            "unchanged": IngestRun.unchanged + counts.unchanged,
            "rejected": IngestRun.rejected + len(rejected),
            "warnings": IngestRun.warnings + len(warnings),
            "heartbeat_at": now,
        }
        if bytes_read is not None:
            values["progress_at"] = now
        if chunk_id is None:
            values["records_done"] = records_done
            if bytes_read is not None:
                values.update(bytes_read=bytes_read, bytes_total=bytes_total)
        else:
            chunk_values: dict[str, object] = {"records_done": records_done, "heartbeat_at": now}
            if bytes_read is not None:
                chunk_values["bytes_read"] = bytes_read
                values["bytes_read"] = _chunks_bytes_read(run_id)
            await session.execute(
                update(IngestChunk).where(IngestChunk.id == chunk_id).values(**chunk_values)
            )
        await session.execute(update(IngestRun).where(IngestRun.id == run_id).values(**values))
        await session.flush()

    @staticmethod
    async def finish(
        session: AsyncSession, run_id: uuid.UUID, *, error: str | None = None
    ) -> IngestRun | None:
        status = RunStatus.FAILED if error is not None else RunStatus.COMPLETE
        values: dict[str, object] = {"status": status, "error": error}
        if error is None:
            values["bytes_read"] = read_to_the_end()
        result = await session.execute(
            update(IngestRun)
            .where(IngestRun.id == run_id)
            .values(**values, finished_at=datetime.now(UTC))
            .returning(IngestRun)
        )
        return result.scalar_one_or_none()

    @staticmethod
    async def note_retry(session: AsyncSession, run_id: uuid.UUID, error: str) -> None:
        """A transient failure: back to queued with the error kept until the next attempt."""
        await session.execute(
            update(IngestRun)
            .where(IngestRun.id == run_id)
            .values(status=RunStatus.QUEUED, error=retry_note(error))
        )

    @staticmethod
    async def lock_submitter(session: AsyncSession, submitted_by: str) -> None:
        """Until this transaction ends, no other one counts or queues this submitter's runs:
        a cap checked under it cannot be overshot by requests that arrive together."""
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"ingest-submitter:{submitted_by}"},
        )

    @staticmethod
    async def count_unfinished(session: AsyncSession, submitted_by: str) -> int:
        """Runs this submitter has queued or running."""
        count = await session.scalar(
            select(func.count())
            .select_from(IngestRun)
            .where(
                IngestRun.submitted_by == submitted_by,
                IngestRun.status.in_([RunStatus.QUEUED, RunStatus.RUNNING]),
            )
        )
        return int(count or 0)

    @staticmethod
    async def get(session: AsyncSession, run_id: uuid.UUID) -> IngestRun | None:
        return await session.get(IngestRun, run_id)

    @staticmethod
    async def recent(session: AsyncSession, limit: int = 50) -> Sequence[IngestRun]:
        result = await session.execute(
            select(IngestRun).order_by(IngestRun.queued_at.desc(), IngestRun.id).limit(limit)
        )
        return result.scalars().all()

    @staticmethod
    async def watched(
        session: AsyncSession, run_ids: Collection[uuid.UUID], *, running: bool = False
    ) -> Sequence[IngestRun]:
        """These runs, and with `running` every run now running, oldest first (what a
        progress display shows)."""
        condition: ColumnElement[bool] = IngestRun.id.in_(run_ids)
        if running:
            condition = or_(condition, IngestRun.status == RunStatus.RUNNING)
        result = await session.execute(
            select(IngestRun).where(condition).order_by(IngestRun.queued_at, IngestRun.id)
        )
        return result.scalars().all()

    @staticmethod
    async def latest_of_job(session: AsyncSession, job_id: str) -> IngestRun | None:
        """The newest run a job id has (a source queued again gets the same job id)."""
        result = await session.execute(
            select(IngestRun)
            .where(IngestRun.job_id == job_id)
            .order_by(IngestRun.queued_at.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    @staticmethod
    async def rejections(
        session: AsyncSession,
        run_id: uuid.UUID,
        *,
        kind: str | None = None,
        limit: int | None = None,
    ) -> Sequence[Rejection]:
        """A run's rejections and field warnings (or those of one `kind`), oldest first."""
        query = select(Rejection).where(Rejection.run_id == run_id)
        if kind is not None:
            query = query.where(Rejection.kind == kind)
        result = await session.execute(
            query.order_by(Rejection.created_at, Rejection.id).limit(limit)
        )
        return result.scalars().all()

    @staticmethod
    async def unfinished(
        session: AsyncSession, *, queued_before: datetime, stalled_before: datetime
    ) -> Sequence[IngestRun]:
        """Runs that should be in Redis by now: queued for a while, or running without a
        heartbeat (their worker died)."""
        result = await session.execute(
            select(IngestRun)
            .where(
                or_(
                    (IngestRun.status == RunStatus.QUEUED) & (IngestRun.queued_at < queued_before),
                    (IngestRun.status == RunStatus.RUNNING)
                    & (IngestRun.heartbeat_at < stalled_before),
                )
            )
            .order_by(IngestRun.queued_at)
        )
        return result.scalars().all()


def gave_up(attempts: int, reason: str) -> str:
    """The error of a run (or chunk) that failed for good after retries."""
    return f"gave up after {attempts} attempts: {reason}"


_RETRY_NOTE = "retrying after: "


def retry_note(error: str) -> str:
    """The error kept on a run (or chunk) that waits for its next attempt."""
    return _RETRY_NOTE + error


def lost_reason(status: str, error: str | None) -> str:
    """Why an unfinished attempt ended: still "running" means its worker died without a
    word (killed, out of memory, its machine lost); a queued one says what it noted."""
    if status == RunStatus.RUNNING:
        return "worker died"
    return (error or "no reason recorded").removeprefix(_RETRY_NOTE)


async def _unfinished_attempts(session: AsyncSession, run_id: uuid.UUID) -> tuple[int, str] | None:
    """The attempts of an unsplit run that has not finished, and why the last one ended,
    read under lock; None for any other run (a new one, a split one, a finished one)."""
    row = (
        await session.execute(
            select(IngestRun.attempts, IngestRun.status, IngestRun.error)
            .where(
                IngestRun.id == run_id,
                IngestRun.chunks_total == 0,
                IngestRun.status.in_([RunStatus.QUEUED, RunStatus.RUNNING]),
            )
            .with_for_update()
        )
    ).one_or_none()
    return None if row is None else (row.attempts, lost_reason(row.status, row.error))


def read_to_the_end() -> ColumnElement[int]:
    """A complete run has read all of its source (its last batch was written while the
    reader still had the end of the file to look at)."""
    return func.coalesce(IngestRun.bytes_total, IngestRun.bytes_read)


def _chunks_bytes_read(run_id: uuid.UUID) -> ScalarSelect[int]:
    """The run's progress in a split source: what its chunks have read, together."""
    return (
        select(func.coalesce(func.sum(IngestChunk.bytes_read), 0))
        .where(IngestChunk.run_id == run_id)
        .scalar_subquery()
    )


def _add_rejections(
    session: AsyncSession,
    run_id: uuid.UUID,
    source: str,
    rejected: Sequence[RejectedRecord],
    warnings: Sequence[PositionedWarning],
) -> None:
    """A batch's rejected records, and its field warnings (kind `field`), as rows."""
    if warnings:
        session.add_all(
            Rejection(
                run_id=run_id,
                source=source,
                position=_storable(position),
                reason=_storable(f"{w.field}: {w.problem}"),
                kind="field",
                field=_storable(w.field),
                raw_value=_storable(w.raw),
            )
            for position, w in warnings
        )
    if rejected:
        session.add_all(
            Rejection(
                run_id=run_id,
                source=source,
                position=_storable(r.position),
                reason=_storable(r.reason),
                snippet=_storable(r.snippet),
            )
            for r in rejected
        )


def _storable(text: str | None) -> str | None:
    """Text PostgreSQL takes: a rejection quotes broken input, which may hold NUL bytes."""
    return text.replace("\x00", "\ufffd") if text and "\x00" in text else text


def stalled_thresholds(
    now: datetime, stalled_after: int, queued_after: int = 30
) -> tuple[datetime, datetime]:
    return now - timedelta(seconds=queued_after), now - timedelta(seconds=stalled_after)


def _request_columns(request: IngestRequest) -> dict[str, object]:
    return {
        "id": request.run_id,
        "source": request.location,
        "format": request.format.value if request.format else None,
        "encoding": request.encoding,
        "feed_id": request.feed_id,
        "restricted": request.restricted,
        "submitted_by": request.submitted_by,
        "quiet": request.quiet,
    }
