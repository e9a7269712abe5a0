"""Opening a source as a local byte stream: a path, a file:// URL or an http(s):// URL,
gzip-compressed or not. Remote sources are downloaded to a temporary file first (streamed,
with a size limit) so that parsing never holds a connection open and a retry is cheap."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

import httpx

from src.infra.source_policy import no_such_name
from src.infra.streams import DecompressionBudget, ReadPosition, content_decoded, maybe_gunzip


class SourceError(RuntimeError):
    """The source cannot be read at all (missing file, HTTP error, too large)."""


class SourceNotModified(Exception):  # noqa: N818 - an outcome, not a failure
    """A conditional request answered 304: nothing new to ingest."""


class SourceRetryLater(Exception):  # noqa: N818
    """The server asked to come back later (429/503 with Retry-After)."""

    def __init__(self, url: str, not_before: datetime) -> None:
        super().__init__(f"{url} asked to retry after {not_before.isoformat()}")
        self.not_before = not_before


class SourceStalledError(ConnectionError):
    """The server stopped sending for longer than the idle read timeout (transient)."""


@dataclass(frozen=True)
class HttpLimits:
    """What one download may take: bytes on the wire (HTTP_MAX_BYTES), seconds in all
    (HTTP_MAX_SECONDS), and how long a Retry-After may hold a source back
    (RETRY_AFTER_MAX_SECONDS)."""

    max_bytes: int = 8 * 1024**3
    max_seconds: float = 900
    max_retry_after: float = 24 * 3600


@dataclass(frozen=True)
class Downloaded:
    """A body as it came over the wire: its digest, validators, and the Content-Encoding
    still to undo (in the order the server applied it)."""

    digest: str
    etag: str | None = None
    last_modified: str | None = None
    encodings: tuple[str, ...] = ()


@dataclass
class OpenedSource:
    stream: BinaryIO
    name: str
    fingerprint: str
    budget: DecompressionBudget  # what the source may still inflate to, members included
    position: ReadPosition  # how far the readers are in its bytes (as stored, not inflated)
    etag: str | None = None
    last_modified: str | None = None


def is_remote(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def local_path(source: str) -> Path:
    parts = urlsplit(source)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme in ("", "file") or len(parts.scheme) == 1:  # a path (or a Windows drive)
        return Path(source)
    raise SourceError(
        f"unsupported source scheme {parts.scheme!r}: use a path, file:// or https://"
    )


_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
# A FIFO's open returns at once when non-blocking (where a blocking one waits for a writer).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


def _not_a_file(path: Path, mode: int) -> SourceError:
    if stat.S_ISDIR(mode):
        return SourceError(f"{path} is a directory, not a file")
    kind = next((name for test, name in _KINDS if test(mode)), "not a file")
    return SourceError(f"{path} is not a regular file ({kind}): only files can be ingested")


def is_regular_file(path: Path) -> bool:
    """Without opening it (a FIFO's open would wait for a writer)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def check_readable_file(path: Path) -> None:
    """Raises SourceError unless `path` is a regular file this process may read; it is not
    opened (a FIFO's open would wait for a writer). Blocking: call it off the event loop."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SourceError(f"no such file: {path}") from None
    except PermissionError:
        raise SourceError(f"no permission to read {path} (or a directory above it)") from None
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror or error}") from None
    if not stat.S_ISREG(mode):
        raise _not_a_file(path, mode)
    if not os.access(path, os.R_OK):
        raise SourceError(f"no permission to read {path}")


def open_regular_file(path: Path) -> BinaryIO:
    """The file at `path`, opened for reading; anything else is refused with a SourceError
    that says what it is: a FIFO would wait for a writer (in the open itself), a device never
    ends, a socket cannot be read. Blocking I/O: call it off the event loop."""
    try:
        fd = os.open(path, _OPEN_FLAGS | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SourceError(f"no such file: {path}") from None
    except PermissionError:
        raise SourceError(f"no permission to read {path}") from None
    except OSError as error:  # a socket is ENXIO
        if path.exists() and not is_regular_file(path):
            raise _not_a_file(path, path.stat().st_mode) from None
        raise SourceError(f"cannot open {path}: {error.strerror or error}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_a_file(path, mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def file_fingerprint(path: Path) -> str:
    """Size and modification time: what tells a resumed job that the file is the same."""
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def retry_after(
    value: str | None, now: datetime | None = None, *, max_seconds: float = 24 * 3600
) -> datetime | None:
    """A Retry-After header (seconds or an HTTP date) as a moment, no later than
    `max_seconds` from now (a header may say a century, or more digits than a date holds)."""
    if not value:
        return None
    now = now or datetime.now(UTC)
    latest = now + timedelta(seconds=max_seconds)
    text = value.strip()
    if text.isdigit():  # more than 12 digits is more than any cap: not parsed at all
        seconds = max_seconds if len(text) > 12 else min(int(text), max_seconds)
        return now + timedelta(seconds=seconds)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, OverflowError):
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return min(max(moment, now), latest)


async def download(
    client: httpx.AsyncClient,
    url: str,
    target: BinaryIO,
    *,
    limits: HttpLimits,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Downloaded:
    """Stream `url`'s body, as sent (a Content-Encoding is not undone here), into `target`.
    Raises SourceNotModified on 304 to a conditional request and SourceRetryLater on 429/503
    with Retry-After; a body larger than `limits.max_bytes` on the wire, a download longer
    than `limits.max_seconds` or an HTML page is refused."""
    try:
        async with asyncio.timeout(limits.max_seconds):
            return await _download(client, url, target, limits, etag, last_modified)
    except TimeoutError:
        raise SourceError(
            f"{url} took longer than {limits.max_seconds:.0f} s to download (HTTP_MAX_SECONDS)"
        ) from None


async def _download(
    client: httpx.AsyncClient,
    url: str,
    target: BinaryIO,
    limits: HttpLimits,
    etag: str | None,
    last_modified: str | None,
) -> Downloaded:
    headers = {"Accept-Encoding": "gzip"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    digest = hashlib.sha256()
    try:
        async with client.stream("GET", url, headers=headers) as response:
            _check_response(response, url, limits, conditional=bool(etag or last_modified))
            encodings = _content_encodings(response, url)
            size = 0
            async for chunk in response.aiter_raw(1 << 20):
                size += len(chunk)
                if size > limits.max_bytes:
                    raise SourceError(
                        f"{url} is larger than the limit of {limits.max_bytes} bytes "
                        "(HTTP_MAX_BYTES)"
                    )
                digest.update(chunk)
                target.write(chunk)
            return Downloaded(
                digest.hexdigest(),
                response.headers.get("ETag"),
                response.headers.get("Last-Modified"),
                encodings,
            )
    except httpx.ConnectError as error:
        if no_such_name(error):
            host = urlsplit(url).hostname or url
            raise SourceError(
                f"the host {host} cannot be resolved: no such name (NXDOMAIN); check the URL"
            ) from error
        raise
    except httpx.ReadTimeout as error:
        raise SourceStalledError(
            f"{url} sent nothing for {client.timeout.read} s (HTTP_READ_TIMEOUT); "
            "it is tried again later"
        ) from error


def _check_response(
    response: httpx.Response, url: str, limits: HttpLimits, *, conditional: bool
) -> None:
    status = response.status_code
    if status == 304:
        if conditional:
            raise SourceNotModified(url)
        raise SourceError(
            f"{url} answered 304 Not Modified to a request without validators (no "
            "If-None-Match nor If-Modified-Since): there is nothing it could be the same as; "
            "check the URL with its publisher"
        )
    if status in (429, 503):
        header = response.headers.get("Retry-After")
        moment = retry_after(header, max_seconds=limits.max_retry_after)
        if moment is not None:
            raise SourceRetryLater(url, moment)
    response.raise_for_status()
    media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if media_type in _HTML_TYPES:
        raise SourceError(
            f"{url} answered an HTML page ({media_type}), not a publication: check the URL "
            "(a portal, login or error page is not a source)"
        )


_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_GZIP = frozenset({"gzip", "x-gzip"})


def _content_encodings(response: httpx.Response, url: str) -> tuple[str, ...]:
    """The Content-Encoding to undo; only gzip is asked for, and only gzip is read."""
    codings = [
        part.strip().lower() for part in response.headers.get("Content-Encoding", "").split(",")
    ]
    encodings = tuple(coding for coding in codings if coding not in ("", "identity"))
    unknown = [coding for coding in encodings if coding not in _GZIP]
    if unknown:
        raise SourceError(
            f"{url} answered with Content-Encoding {unknown[0][:40]!r}, which is not read "
            "(only gzip is asked for): ask its publisher for gzip or no encoding"
        )
    return encodings


@asynccontextmanager
async def open_source(
    source: str,
    *,
    client: httpx.AsyncClient | None = None,
    limits: HttpLimits | None = None,
    max_decompressed_bytes: int = 64 * 1024**3,
    etag: str | None = None,
    last_modified: str | None = None,
) -> AsyncIterator[OpenedSource]:
    """The source as a binary stream (gzip undone, a Content-Encoding too, all within
    `max_decompressed_bytes`), with a fingerprint of its bytes and the budget that its
    archive members, if any, inflate within too. An empty source is an error: there is
    nothing to ingest."""
    budget = DecompressionBudget(max_decompressed_bytes)
    if is_remote(source):
        if client is None:
            raise SourceError("an HTTP client is needed to read a URL")
        with tempfile.TemporaryFile(prefix="tenders-") as spool:
            got = await download(
                client,
                source,
                spool,
                limits=limits or HttpLimits(),
                etag=etag,
                last_modified=last_modified,
            )
            size = spool.tell()
            if size == 0:
                raise SourceError(f"{source} answered with an empty body: nothing to ingest")
            spool.seek(0)
            name = Path(urlsplit(source).path).name or source
            stream = maybe_gunzip(content_decoded(spool, got.encodings, budget, name), budget, name)
            with ReadPosition.watch(spool, size) as position:
                yield OpenedSource(
                    stream,
                    name,
                    got.digest,
                    budget,
                    position,
                    etag=got.etag,
                    last_modified=got.last_modified,
                )
        return
    path = local_path(source)
    handle = await asyncio.to_thread(open_regular_file, path)
    with handle, ReadPosition.watch(handle, os.fstat(handle.fileno()).st_size) as position:
        if position.size == 0:
            raise SourceError(f"{path} is empty: nothing to ingest")
        stat_result = os.fstat(handle.fileno())
        fingerprint = f"{stat_result.st_size}:{stat_result.st_mtime_ns}"
        stream = await asyncio.to_thread(maybe_gunzip, handle, budget, path.name)
        yield OpenedSource(stream, path.name, fingerprint, budget, position)
