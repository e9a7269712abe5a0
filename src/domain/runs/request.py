"""One ingest request: what to read and how. It travels from whoever asks (CLI, API, a feed,
the sweeper) through the run row and the queue to the worker, and is built and parsed here
only, so no field is ever dropped on the way."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from src.domain.formats import Format


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """`location` is a path, file:// or http(s):// URL; `restricted` sources (named by the API
    or a feed) are checked against the source policy at every fetch; `submitted_by` names the
    API token that asked (its queued runs are capped)."""

    location: str
    format: Format | None = None
    encoding: str | None = None
    feed_id: uuid.UUID | None = None
    restricted: bool = False
    run_id: uuid.UUID = field(default_factory=uuid.uuid4)
    submitted_by: str | None = None
    # A quiet run writes its tenders without alert events (a new source's first ingest).
    quiet: bool = False

    def to_job(self) -> dict[str, Any]:
        """The job's keyword arguments: JSON values only (payloads are never pickled)."""
        return {
            "location": self.location,
            "format": self.format.value if self.format else None,
            "encoding": self.encoding,
            "feed_id": str(self.feed_id) if self.feed_id else None,
            "restricted": self.restricted,
            "run_id": str(self.run_id),
            "submitted_by": self.submitted_by,
            "quiet": self.quiet,
        }

    @classmethod
    def from_job(cls, payload: dict[str, Any]) -> IngestRequest:
        """The inverse of `to_job`; a payload from an older release (`source` for the
        location, no run id) is read too."""
        location = payload.get("location", payload.get("source"))
        if not isinstance(location, str) or not location:
            raise ValueError(f"ingest job without a location: {sorted(payload)}")
        run_id = payload.get("run_id")
        feed_id = payload.get("feed_id")
        submitted_by = payload.get("submitted_by")
        return cls(
            location=location,
            format=Format.parse(payload.get("format")),
            encoding=payload.get("encoding"),
            feed_id=uuid.UUID(feed_id) if feed_id else None,
            restricted=bool(payload.get("restricted", False)),
            run_id=uuid.UUID(run_id) if run_id else uuid.uuid4(),
            submitted_by=submitted_by if isinstance(submitted_by, str) else None,
            quiet=bool(payload.get("quiet", False)),
        )

    def with_location(self, location: str) -> IngestRequest:
        return replace(self, location=location)
