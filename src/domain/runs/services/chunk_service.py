"""Chunks of a run: created once when a large source is split; each completes once, and the
run completes with its last chunk (whatever order, whichever worker)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import IngestChunk, IngestRun, RunStatus
from src.domain.runs.services.run_service import (
    gave_up,
    lost_reason,
    read_to_the_end,
    retry_note,
)


class ChunkService:
    @staticmethod
    async def create(
        session: AsyncSession,
        run_id: uuid.UUID,
        ranges: Sequence[tuple[int, int]],
        job_ids: Sequence[str],
        first_lines: Sequence[int],
    ) -> None:
        """The run's chunks (idempotent: a re-run of the splitting job adds nothing); the
        run's bytes to read are theirs. `first_lines`: the file line number of each chunk's
        first line."""
        rows = [
            {
                "id": uuid.uuid4(),
                "run_id": run_id,
                "index": index,
                "start_offset": start,
                "end_offset": end,
                "first_line": first_line,
                "job_id": job_id,
                "status": RunStatus.QUEUED,
            }
            for index, ((start, end), job_id, first_line) in enumerate(
                zip(ranges, job_ids, first_lines, strict=True)
            )
        ]
        await session.execute(
            pg_insert(IngestChunk).on_conflict_do_nothing(
                constraint="uq_ingest_chunks_run_id_index"
            ),
            rows,
        )
        await session.execute(
            update(IngestRun)
            .where(IngestRun.id == run_id)
            .values(chunks_total=len(rows), bytes_total=ranges[-1][1] if ranges else 0)
        )

    @staticmethod
    async def get(session: AsyncSession, chunk_id: uuid.UUID) -> IngestChunk | None:
        return await session.get(IngestChunk, chunk_id)

    @staticmethod
    async def unfinished(session: AsyncSession, run_id: uuid.UUID) -> Sequence[IngestChunk]:
        result = await session.execute(
            select(IngestChunk)
            .where(
                IngestChunk.run_id == run_id,
                IngestChunk.status != RunStatus.COMPLETE,
                IngestChunk.status != RunStatus.FAILED,
            )
            .order_by(IngestChunk.index)
        )
        return result.scalars().all()

    @staticmethod
    async def start(session: AsyncSession, chunk_id: uuid.UUID) -> None:
        """One more attempt at the chunk."""
        await session.execute(
            update(IngestChunk)
            .where(IngestChunk.id == chunk_id, IngestChunk.status != RunStatus.COMPLETE)
            .values(
                status=RunStatus.RUNNING,
                heartbeat_at=datetime.now(UTC),
                error=None,
                attempts=IngestChunk.attempts + 1,
            )
        )

    @staticmethod
    async def give_up(session: AsyncSession, chunk: IngestChunk) -> bool:
        """Fail a chunk whose attempts are spent without finishing (its worker died, or it
        was cut short each time); returns whether its run is now finished."""
        reason = lost_reason(chunk.status, chunk.error)
        return await ChunkService.finish(session, chunk, error=gave_up(chunk.attempts, reason))

    @staticmethod
    async def note_retry(session: AsyncSession, chunk_id: uuid.UUID, error: str) -> None:
        """A transient failure or a timeout: back to queued, the error kept until the next
        attempt."""
        await session.execute(
            update(IngestChunk)
            .where(IngestChunk.id == chunk_id, IngestChunk.status == RunStatus.RUNNING)
            .values(status=RunStatus.QUEUED, error=retry_note(error))
        )

    @staticmethod
    async def finish(
        session: AsyncSession, chunk: IngestChunk, *, error: str | None = None
    ) -> bool:
        """Mark the chunk done (once); when it was the run's last, finish the run. Returns
        whether the run is now finished."""
        now = datetime.now(UTC)
        status = RunStatus.FAILED if error is not None else RunStatus.COMPLETE
        changed = await session.execute(
            update(IngestChunk)
            .where(
                IngestChunk.id == chunk.id,
                IngestChunk.status.not_in([RunStatus.COMPLETE, RunStatus.FAILED]),
            )
            .values(status=status, error=error, finished_at=now)
            .returning(IngestChunk.id)
        )
        if changed.first() is None:
            return False  # an earlier attempt already finished it
        values: dict[str, object] = {"chunks_done": IngestRun.chunks_done + 1, "heartbeat_at": now}
        if error is not None:
            values.update(status=RunStatus.FAILED, error=f"chunk {chunk.index} failed: {error}")
        result = await session.execute(
            update(IngestRun)
            .where(IngestRun.id == chunk.run_id)
            .values(**values)
            .returning(IngestRun.chunks_done, IngestRun.chunks_total, IngestRun.status)
        )
        done, total, run_status = result.one()
        if done < total:
            return False
        await session.execute(
            update(IngestRun)
            .where(IngestRun.id == chunk.run_id)
            .values(
                status=RunStatus.FAILED if run_status == RunStatus.FAILED else RunStatus.COMPLETE,
                finished_at=now,
                bytes_read=IngestRun.bytes_read
                if run_status == RunStatus.FAILED
                else read_to_the_end(),
            )
        )
        return True
