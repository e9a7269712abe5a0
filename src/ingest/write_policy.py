"""What a run may write, checked on every batch before anything of it is stored.

- No version from the future: versions compare by date, so a record (its
  `source_updated_at`) or an OCDS release (its `date`) dated later than now +
  FUTURE_DATE_TOLERANCE would replace the real tender and keep every genuine update out.
- A publisher's namespace only from where that publisher publishes, for a restricted run (a
  source named through the API or as a feed): `anac` from ANAC_HOSTS, `ted` from TED_HOSTS,
  `ocds:<prefix>` from the place its stored tenders came from (the host of their URLs, or
  ALLOWED_SOURCE_DIRS for files; the first place to write a new prefix owns it). A source
  under TRUSTED_SOURCES may write any namespace, as the operator's command line does.

What is refused becomes a rejection and nothing of it is stored: a refused OCDS release
would otherwise be merged into the publisher's tenders by a later run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from configs.config import Settings
from src.domain.runs.request import IngestRequest
from src.domain.tender.schemas import RejectedRecord, TenderRecord
from src.domain.tender.services import TenderService
from src.readers.common import parse_timestamp
from src.readers.items import PendingRelease
from src.readers.ocds_mapping import source_of

_TRUST_HINT = "an operator may list the source in TRUSTED_SOURCES"


@dataclass
class WritePolicy:
    """`trusted`: the operator's own run, or a source under TRUSTED_SOURCES (any namespace)."""

    settings: Settings
    location: str
    trusted: bool = True
    # Alert events are written with the tenders unless the run is quiet.
    events: bool = True
    _refusals: dict[str, str | None] = field(default_factory=dict)  # per namespace

    @classmethod
    def of(cls, request: IngestRequest, settings: Settings) -> WritePolicy:
        trusted = not request.restricted or any(
            _under(request.location, prefix) for prefix in settings.trusted_sources
        )
        return cls(settings, request.location, trusted, events=not request.quiet)

    @property
    def host(self) -> str | None:
        parts = urlsplit(self.location)
        return (parts.hostname or "").rstrip(".") if parts.scheme in ("http", "https") else None

    @property
    def origin(self) -> str:
        """Where the run reads, as a refusal names it."""
        return self.host or "a local file"

    async def screen_releases(
        self, session: AsyncSession, releases: Sequence[PendingRelease]
    ) -> tuple[list[PendingRelease], list[RejectedRecord]]:
        """The releases that may be stored and merged, and the refused ones as rejections."""
        kept: list[PendingRelease] = []
        refused: list[RejectedRecord] = []
        latest = self._latest()
        for release in releases:
            reason = self._too_new(_release_date(release), latest) or await self._refusal(
                session, source_of(release.ocid)
            )
            if reason is None:
                kept.append(release)
            else:
                refused.append(
                    RejectedRecord.of(
                        f"ocid {release.ocid}: {reason}", release.position, release.data
                    )
                )
        return kept, refused

    async def screen_records(
        self, session: AsyncSession, records: Sequence[TenderRecord]
    ) -> tuple[list[TenderRecord], list[RejectedRecord]]:
        """The records that may be written, and the refused ones as rejections. A document
        with a refused record is not remembered as read (its other records lose the digest
        that would let a later run skip it unread)."""
        kept: list[TenderRecord] = []
        refused: list[RejectedRecord] = []
        spoiled: set[tuple[str, str, str]] = set()
        latest = self._latest()
        for record in records:
            reason = self._too_new(record.source_updated_at, latest) or await self._refusal(
                session, record.source
            )
            if reason is None:
                kept.append(record)
                continue
            spoiled.add(_document(record))
            reason = f"{record.identity_key}: {reason}"
            raw = record.raw if record.raw is not None else record.raw_json
            refused.append(RejectedRecord.of(reason, record.position, raw))
        for record in kept:
            if _document(record) in spoiled:
                record.source_digest = None
        return kept, refused

    def _latest(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.settings.future_date_tolerance)

    def _too_new(self, moment: datetime | None, latest: datetime) -> str | None:
        if moment is None or moment <= latest:
            return None
        return (
            f"dated {moment.isoformat()}, later than now + "
            f"{timedelta(seconds=self.settings.future_date_tolerance)} "
            "(FUTURE_DATE_TOLERANCE): a version from the future would replace the tender"
        )

    async def _refusal(self, session: AsyncSession, namespace: str) -> str | None:
        """Why this run may not write `namespace` (None when it may), once per namespace."""
        if self.trusted:
            return None
        if namespace not in self._refusals:
            self._refusals[namespace] = await self._namespace_refusal(session, namespace)
        return self._refusals[namespace]

    async def _namespace_refusal(self, session: AsyncSession, namespace: str) -> str | None:
        fixed = {"anac": self.settings.anac_hosts, "ted": self.settings.ted_hosts}
        if namespace in fixed:
            hosts = fixed[namespace]
            if self.host is not None and any(_on_host(self.host, h) for h in hosts):
                return None
            return (
                f"namespace {namespace} may not be written from {self.origin}, only from "
                f"{', '.join(hosts) or 'no host'} ({_TRUST_HINT})"
            )
        if not namespace.startswith("ocds:"):
            return f"namespace {namespace} may not be written from {self.origin} ({_TRUST_HINT})"
        elsewhere = await TenderService.source_url_outside(session, namespace, self._patterns())
        if elsewhere is None:
            return None
        return (
            f"namespace {namespace} may not be written from {self.origin}: its tenders came "
            f"from {_place(elsewhere)} ({_TRUST_HINT})"
        )

    def _patterns(self) -> list[str]:
        """LIKE patterns of the URLs (or paths) this run's place writes."""
        if self.host is None:
            directories = [d.resolve() for d in self.settings.allowed_source_dirs]
            return [_like(str(directory).rstrip("/")) + "/%" for directory in directories]
        host = _like(self.host)
        return [f"{scheme}://{host}{end}" for scheme in ("http", "https") for end in ("/%", ":%")]


def _release_date(release: PendingRelease) -> datetime | None:
    try:
        return parse_timestamp(release.data.get("date"))
    except ValueError:
        return None  # an unreadable date orders first (it never wins a comparison)


def _document(record: TenderRecord) -> tuple[str, str, str]:
    return (record.source, record.format, record.document_key or record.procedure_id)


def _on_host(host: str, allowed: str) -> bool:
    allowed = allowed.strip().lower().rstrip(".")
    return bool(allowed) and (host == allowed or host.endswith("." + allowed))


def _under(location: str, prefix: str) -> bool:
    """`location` is `prefix` or inside it: a URL prefix (same scheme and host, the path
    starting with the prefix's), or a directory."""
    parts, wanted = urlsplit(location), urlsplit(prefix.strip())
    if wanted.scheme in ("http", "https"):
        return (
            parts.scheme == wanted.scheme.lower()
            and parts.netloc.lower() == wanted.netloc.lower()
            and parts.path.startswith(wanted.path or "/")
        )
    if parts.scheme or not prefix.strip():
        return False
    return Path(location).resolve().is_relative_to(Path(prefix.strip()).resolve())


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _place(source_url: str) -> str:
    parts = urlsplit(source_url)
    if parts.scheme in ("http", "https") and parts.hostname:
        return parts.hostname
    return "a local file" if source_url else "a source without a URL"
