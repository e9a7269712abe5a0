"""OCDS releases are partial: each ocid's releases are kept (deduplicated by release id and
content hash) and the ocids a batch touches are compiled again from all of them, so a release
arriving in a later file merges with the earlier ones. Runs inside the batch's transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.tender.entities import OcdsRelease
from src.domain.tender.schemas import RejectedRecord, content_hash
from src.readers.common import ReadItem, parse_timestamp
from src.readers.ocds_mapping import map_release
from src.readers.ocds_merge import compile_releases


@dataclass(frozen=True, slots=True)
class PendingRelease:
    """A release read from a source, to be merged with its ocid's other releases."""

    ocid: str
    data: dict[str, Any]
    version: str
    position: str
    source_url: str | None


async def resolve_releases(
    session: AsyncSession, pending: Sequence[PendingRelease]
) -> list[ReadItem]:
    """Store the new releases and map each touched ocid's compiled release."""
    by_ocid: dict[str, list[PendingRelease]] = defaultdict(list)
    for release in pending:
        by_ocid[release.ocid].append(release)
    rows = {}
    for release in pending:
        digest = content_hash(release.data)
        release_id = str(release.data.get("id") or digest)
        try:
            released_at = parse_timestamp(release.data.get("date"))
        except ValueError:
            released_at = None
        rows[(release.ocid, release_id, digest)] = {
            "ocid": release.ocid,
            "release_id": release_id,
            "content_hash": digest,
            "release_date": released_at,
            "package_version": release.version[:8],
            "data": release.data,
        }
    known = set(
        (
            await session.execute(
                select(OcdsRelease.ocid, OcdsRelease.release_id, OcdsRelease.content_hash).where(
                    tuple_(OcdsRelease.ocid, OcdsRelease.release_id, OcdsRelease.content_hash).in_(
                        list(rows)
                    )
                )
            )
        ).all()
    )
    new = [rows[key] for key in sorted(rows) if key not in known]
    if new:
        await session.execute(pg_insert(OcdsRelease).on_conflict_do_nothing(), new)
    stored = await session.execute(
        select(OcdsRelease.ocid, OcdsRelease.data, OcdsRelease.package_version)
        .where(OcdsRelease.ocid.in_(list(by_ocid)))
        .order_by(OcdsRelease.ocid, OcdsRelease.release_date.nulls_first(), OcdsRelease.id)
    )
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    versions: dict[str, str] = {}
    for ocid, data, version in stored:
        history[ocid].append(data)
        versions[ocid] = version
    items: list[ReadItem] = []
    for ocid in sorted(by_ocid):
        last = by_ocid[ocid][-1]
        try:
            compiled = compile_releases(history[ocid], versions.get(ocid, last.version))
        except Exception as error:  # noqa: BLE001 - ocdsmerge raises many kinds on bad input
            items.append(
                RejectedRecord.of(
                    f"ocid {ocid}: releases cannot be merged: {error}", last.position, last.data
                )
            )
            continue
        items.extend(map_release(compiled, source_url=last.source_url, position=last.position))
    return items
