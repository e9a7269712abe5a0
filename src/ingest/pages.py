"""Reading a source page by page: the source itself, then, for an OCDS feed read over HTTP,
every page its packages' `links.next` point to (bounded by MAX_PAGES, never the same twice).

A next link is data from the page, so it is followed only as an http(s) URL (relative to the
page), and for a restricted run only when the source policy accepts it, as the first URL."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from src.domain.runs.entities import IngestRun
from src.domain.runs.request import IngestRequest
from src.domain.runs.services import RunService
from src.infra.source_policy import SourceNotAllowed, check_source_async
from src.infra.sources import HttpLimits, OpenedSource, is_remote, open_source
from src.ingest.deps import IngestDeps
from src.ingest.pipeline import ingest_items
from src.ingest.write_policy import WritePolicy
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
    bytes_before = 0  # of the pages read before this one
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
            limits = deps.read_limits
            reading = read_source(
                opened.stream,
                opened.name,
                format=request.format,
                source_url=url,
                encoding=request.encoding,
                budget=opened.budget,
                csv_max_record_lines=deps.settings.csv_max_record_lines,
                limits=limits,
            )
            totals = await ingest_items(
                deps.sessions,
                run.id,
                reading,
                location=request.location,
                policy=WritePolicy.of(page, deps.settings),
                batch_size=deps.settings.ingest_batch_size,
                resume_from=resume_from,
                already_done=done,
                position=opened.position.after(bytes_before),
                alerts=deps.alerts,
                hints=limits.hints,
            )
            done = totals.records
            bytes_before += opened.position.size
        link = reading.next_url if is_remote(request.location) else None
        url = await _next_page(deps, request, url, link, len(seen))
    return first_page


async def _next_page(
    deps: IngestDeps, request: IngestRequest, page_url: str, link: str | None, page: int
) -> str | None:
    """The URL a page's `links.next` names, resolved against the page; a link to anything but
    http(s) (a file, file://) is refused, and a restricted run's link must pass the policy."""
    if link is None or not link.strip():
        return None
    target = urljoin(page_url, link.strip())
    scheme = urlsplit(target).scheme.lower()
    if scheme not in ("http", "https"):
        raise SourceNotAllowed(
            f"page {page}'s links.next is a {scheme[:20]}: link, not an http(s) URL: "
            "it is not followed"
        )
    if not request.restricted:
        return target
    try:
        return await check_source_async(target, deps.settings, resolve=deps.resolve)
    except SourceNotAllowed as refused:
        raise SourceNotAllowed(f"page {page}'s links.next is not followed: {refused}") from None


def _open(
    deps: IngestDeps, page: IngestRequest, validators: Validators
) -> AbstractAsyncContextManager[OpenedSource]:
    settings = deps.settings
    return open_source(
        page.location,
        client=deps.http_for(page),
        limits=HttpLimits(
            max_bytes=settings.http_max_bytes,
            max_seconds=settings.http_max_seconds,
            max_retry_after=settings.retry_after_max_seconds,
        ),
        max_decompressed_bytes=settings.max_decompressed_bytes,
        etag=validators.etag,
        last_modified=validators.last_modified,
    )
