"""OCDS releases are partial: each batch's new releases are stored, and every ocid the batch
touches is compiled again from all its stored releases and mapped, so a release arriving in a
later file merges with the earlier ones. Runs inside the batch's transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.tender.schemas import RejectedRecord, content_hash, fits_timestamptz
from src.domain.tender.services import NoticeService, ReleaseService, StoredRelease
from src.readers import ReadItem, merge_releases
from src.readers.common import parse_timestamp
from src.readers.items import PendingRelease


def _stored(release: PendingRelease) -> StoredRelease:
    digest = content_hash(release.data)
    try:
        released_at = parse_timestamp(release.data.get("date"))
    except ValueError:
        released_at = None
    if released_at is not None and not fits_timestamptz(released_at):
        released_at = None  # only orders the releases; the merged date is checked on mapping
    return StoredRelease(
        ocid=release.ocid,
        release_id=str(release.data.get("id") or digest),
        content_hash=digest,
        release_date=released_at,
        package_version=release.version,
        data=release.data,
    )


async def resolve_releases(
    session: AsyncSession, pending: Sequence[PendingRelease]
) -> list[ReadItem]:
    """Store the new releases and map each touched ocid's compiled release. A release the
    store would refuse (a key too long to index) is a rejection, and merges into nothing."""
    by_ocid: dict[str, list[PendingRelease]] = defaultdict(list)
    storable: list[StoredRelease] = []
    items: list[ReadItem] = []
    for release in pending:
        stored = _stored(release)
        try:
            stored.check()
        except ValueError as error:
            reason = f"ocid {release.ocid[:100]}: {error}"
            items.append(RejectedRecord.of(reason, release.position, release.data))
            continue
        storable.append(stored)
        by_ocid[release.ocid].append(release)
    # Two jobs with releases of one ocid would each merge without the other's release.
    await NoticeService.lock(session, [("ocds-release", "ocds", ocid) for ocid in by_ocid])
    await ReleaseService.store(session, storable)
    histories = await ReleaseService.histories(session, sorted(by_ocid))
    for ocid, history in histories.items():
        last = by_ocid[ocid][-1]
        items.extend(merge_releases(ocid, history.releases, history.version or last.version, last))
    return items
