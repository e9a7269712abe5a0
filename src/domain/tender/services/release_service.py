"""The OCDS release store: every release of every ocid, kept once (deduplicated by release id
and content hash), so an ocid's state can be compiled again from all of them whatever order
they arrived in. Rules of storage only; merging is format knowledge (the readers')."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.tender.entities import OcdsRelease
from src.domain.tender.schemas import check_indexable, fits_timestamptz


@dataclass(frozen=True, slots=True)
class StoredRelease:
    ocid: str
    release_id: str
    content_hash: str
    release_date: datetime | None
    package_version: str
    data: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.ocid, self.release_id, self.content_hash)

    def check(self) -> None:
        """Raise ValueError when the store would refuse the release: its key is indexed."""
        check_indexable("the ocid and release id", self.ocid, self.release_id, self.content_hash)
        if self.release_date is not None and not fits_timestamptz(self.release_date):
            raise ValueError(f"release date out of range: {self.release_date.isoformat()}")


@dataclass(frozen=True, slots=True)
class ReleaseHistory:
    """An ocid's releases in date order, and the OCDS version of the newest stored one."""

    releases: list[dict[str, Any]]
    version: str | None


class ReleaseService:
    @staticmethod
    async def store(session: AsyncSession, releases: Iterable[StoredRelease]) -> int:
        """Store the releases not stored before; returns how many were new."""
        by_key = {release.key: release for release in releases}
        if not by_key:
            return 0
        columns = (OcdsRelease.ocid, OcdsRelease.release_id, OcdsRelease.content_hash)
        rows = await session.execute(select(*columns).where(tuple_(*columns).in_(list(by_key))))
        known = {(ocid, release_id, digest) for ocid, release_id, digest in rows}
        new = [
            {
                "ocid": r.ocid,
                "release_id": r.release_id,
                "content_hash": r.content_hash,
                "release_date": r.release_date,
                "package_version": r.package_version[:8],
                "data": r.data,
            }
            for key, r in sorted(by_key.items())
            if key not in known
        ]
        if new:
            await session.execute(pg_insert(OcdsRelease).on_conflict_do_nothing(), new)
        return len(new)

    @staticmethod
    async def histories(session: AsyncSession, ocids: Sequence[str]) -> dict[str, ReleaseHistory]:
        """Every stored release of these ocids, oldest first (undated ones first)."""
        stored = await session.execute(
            select(OcdsRelease.ocid, OcdsRelease.data, OcdsRelease.package_version)
            .where(OcdsRelease.ocid.in_(list(ocids)))
            .order_by(OcdsRelease.ocid, OcdsRelease.release_date.nulls_first(), OcdsRelease.id)
        )
        releases: dict[str, list[dict[str, Any]]] = defaultdict(list)
        versions: dict[str, str] = {}
        for ocid, data, version in stored:
            releases[ocid].append(data)
            versions[ocid] = version
        return {ocid: ReleaseHistory(releases[ocid], versions.get(ocid)) for ocid in ocids}
