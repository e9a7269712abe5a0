"""The door: a new ingest request, from `tenders ingest` or `POST /ingest-jobs`, is checked
here before anything is written or queued, by this one function for both, so a missing
file, a directory, an unknown format or encoding, or a host that does not resolve is refused
at once with a reason, instead of failing later in a worker's log.

What differs is who asks: a restricted request (the API, a feed) must also pass the source
policy (public hosts, files under ALLOWED_SOURCE_DIRS); the operator's command line may name
any file it can read and any host that resolves."""

from __future__ import annotations

import asyncio
import codecs
import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from configs.config import Settings
from src.domain.formats import Format
from src.domain.runs.request import IngestRequest
from src.infra.source_policy import (
    NameLookupFailed,
    Resolver,
    SourceNotAllowed,
    check_source,
    no_such_name,
    system_resolver,
)
from src.infra.sources import SourceError, check_readable_file

Field = Literal["source", "format", "encoding"]


class RequestRefused(ValueError):  # noqa: N818 - a refusal, named as the caller reads it
    """The request is refused; `field` names the part at fault, the message says why and
    what to give instead. `retry_later` when the refusal may pass later (a resolver that
    could not answer now), not a mistake in the request."""

    def __init__(self, field: Field, message: str, *, retry_later: bool = False) -> None:
        super().__init__(message)
        self.field: Field = field
        self.retry_later = retry_later


def known_format(value: str | Format | None) -> Format | None:
    try:
        return Format.parse(value)
    except ValueError as error:
        raise RequestRefused("format", str(error)) from None


def known_encoding(value: str | None) -> str | None:
    """The codec's own name for a text encoding (`CP1252` is `cp1252`)."""
    if value is None:
        return None
    try:
        codec = codecs.lookup(value)
    except (LookupError, ValueError):
        codec = None
    if codec is None or not getattr(codec, "_is_text_encoding", True):
        raise RequestRefused(
            "encoding", f"unknown encoding {value!r}: give a text encoding (cp1252, latin-1)"
        )
    return codec.name


async def admit(
    location: str,
    settings: Settings,
    *,
    format: str | Format | None = None,
    encoding: str | None = None,
    restricted: bool = False,
    submitted_by: str | None = None,
    quiet: bool = False,
    resolve: Resolver = system_resolver,
) -> IngestRequest:
    """The request to queue, its location normalised (an absolute path for a file); raises
    RequestRefused. It resolves host names and touches the file system (off the loop). A
    `quiet` request writes its tenders without alert events."""
    checked_format = known_format(format)
    checked_encoding = known_encoding(encoding)
    checked = await asyncio.to_thread(
        check_location, location, settings, restricted=restricted, resolve=resolve
    )
    return IngestRequest(
        checked,
        format=checked_format,
        encoding=checked_encoding,
        restricted=restricted,
        submitted_by=submitted_by,
        quiet=quiet,
    )


def check_location(
    location: str, settings: Settings, *, restricted: bool, resolve: Resolver
) -> str:
    """Blocking: see `admit`."""
    try:
        if restricted:
            checked = check_source(location, settings, resolve=resolve)
            if urlsplit(checked).scheme not in ("http", "https"):
                check_readable_file(Path(checked))
            return checked
        return _operator_location(location.strip(), resolve)
    except NameLookupFailed as error:
        raise RequestRefused("source", str(error), retry_later=True) from None
    except (SourceNotAllowed, SourceError) as error:
        raise RequestRefused("source", str(error)) from None


def _operator_location(text: str, resolve: Resolver) -> str:
    if not text:
        raise SourceError("the source is empty: give a file path or an http(s):// URL")
    if "\x00" in text:
        raise SourceError("the source contains a NUL character")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        _check_host(parts.hostname or "", resolve)
        return text
    if scheme == "file":
        check_readable_file(Path(unquote(parts.path)))
        return text
    if len(scheme) > 1:
        raise SourceError(
            f"{scheme}: sources are not read: give a file path, file:// or http(s):// URL"
        )
    path = Path(text).expanduser().absolute()
    check_readable_file(path)
    return str(path.resolve())


def _check_host(host: str, resolve: Resolver) -> None:
    host = host.rstrip(".")
    if not host:
        raise SourceError("the URL has no host name")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return
    except ValueError:
        pass
    try:
        if not list(resolve(host)):
            raise SourceError(f"the host {host} has no address: check the URL")
    except (OSError, UnicodeError) as error:
        if isinstance(error, UnicodeError) or no_such_name(error):
            raise SourceError(
                f"the host {host} cannot be resolved: no such name (NXDOMAIN); check the URL"
            ) from None
        raise NameLookupFailed(f"the host {host} cannot be resolved now ({error})") from None
