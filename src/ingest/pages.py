"""Reading a source page by page: the source itself, then, for an OCDS feed read over HTTP,
every page its packages' `links.next` point to (bounded by MAX_PAGES, never the same twice)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from src.domain.runs.entities import IngestRun
from src.domain.runs.request import IngestRequest
from src.domain.runs.services import RunService
from src.infra.sources import OpenedSource, is_remote, open_source
from src.ingest.deps import IngestDeps
from src.ingest.pipeline import ingest_items
from src.readers import read_source


@dataclass(frozen=True)
class Validators:
    """HTTP validators of a source's first page (ETag, Last-Modified)."""

    etag: str | None = None
    last_modified: str | None = None


async def ingest_pages(
    deps: IngestDeps, run: IngestRun, request: IngestRequest, validators: Validators
) -> Validators:
    """Ingest every page; returns the first page's validators, for the next conditional fetch."""
    url: str | None = request.location
    seen: set[str] = set()
    first_page = Validators()
    done = 0
    while url is not None and url not in seen and len(seen) < deps.settings.max_pages:
        first = not seen
        seen.add(url)
        page = request.with_location(url)
        sent = validators if first else Validators()
        async with _open(deps, page, sent) as opened:
            resume_from = 0
            if first:
                first_page = Validators(opened.etag, opened.last_modified)
                async with deps.sessions() as session, session.begin():
                    resume_from = await RunService.set_fingerprint(session, run, opened.fingerprint)
            reading = read_source(
                opened.stream,
                opened.name,
                format=request.format,
                source_url=url,
                encoding=request.encoding,
                budget=opened.budget,
                limits=deps.read_limits,
            )
            totals = await ingest_items(
                deps.sessions,
                run.id,
                reading,
                location=request.location,
                batch_size=deps.settings.ingest_batch_size,
                resume_from=resume_from,
                already_done=done,
            )
            done = totals.records
        url = reading.next_url if is_remote(request.location) else None
    return first_page


def _open(
    deps: IngestDeps, page: IngestRequest, validators: Validators
) -> AbstractAsyncContextManager[OpenedSource]:
    settings = deps.settings
    return open_source(
        page.location,
        client=deps.http_for(page),
        max_bytes=settings.http_max_bytes,
        max_seconds=settings.http_max_seconds,
        max_decompressed_bytes=settings.max_decompressed_bytes,
        etag=validators.etag,
        last_modified=validators.last_modified,
    )
