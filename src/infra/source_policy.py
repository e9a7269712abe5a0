"""Which sources a caller who is not the machine's owner may ingest (the HTTP API, registered
feeds): http(s) URLs of public hosts, and files under the directories the operator allowed.

A path typed on the command line is the user's own choice and is not checked here. The check
runs where the source is accepted, and again when the worker fetches: there, every connection
goes to an address checked here, resolved once (`src/infra/guarded_http.py`), so a host that
changes its DNS answer in between gains nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import SplitResult, urlsplit, urlunsplit

from configs.config import Settings

Resolver = Callable[[str], Sequence[str]]
"""A host name to its IP addresses (as text); raises OSError when it cannot resolve it."""

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DEFAULT_PORTS = {"http": 80, "https": 443}
_PRIVATE_HINT = "set ALLOW_PRIVATE_SOURCES=true on the server to allow such hosts"


class SourceNotAllowed(ValueError):  # noqa: N818 - a refusal, named as the caller reads it
    """The source is refused; the message says why and what to give instead."""


def system_resolver(host: str) -> list[str]:
    """Every address the system resolver gives for `host` (blocking: run it in a thread).
    Names under `.invalid` never resolve (RFC 6761 §6.4): they are answered here, without
    asking a DNS server."""
    if host.rstrip(".").lower().rsplit(".", 1)[-1] == "invalid":
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def check_source(source: str, settings: Settings, *, resolve: Resolver = system_resolver) -> str:
    """The normalised source when it may be ingested; raises SourceNotAllowed otherwise.

    URLs come back with scheme and host in lowercase, no default port, no fragment; paths come
    back absolute with symlinks resolved (what the worker will open)."""
    text = source.strip()
    if not text:
        raise SourceNotAllowed("the source is empty: give an https:// URL or a file path")
    if "\x00" in text:
        raise SourceNotAllowed("the source contains a NUL character")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in _DEFAULT_PORTS:
        return _check_url(parts, scheme, settings, resolve)
    if scheme == "file":
        raise SourceNotAllowed(
            "file:// URLs are not accepted: give the file's path instead "
            f"(it must be inside {_allowed_dirs_text(settings)})"
        )
    if scheme:
        raise SourceNotAllowed(
            f"{scheme}: sources are not accepted: give an http:// or https:// URL, or the path "
            f"of a file inside {_allowed_dirs_text(settings)}"
        )
    return _check_path(text, settings)


async def check_source_async(
    source: str, settings: Settings, *, resolve: Resolver = system_resolver
) -> str:
    """`check_source` in a thread: it resolves host names and touches the file system."""
    return await asyncio.to_thread(check_source, source, settings, resolve=resolve)


def _check_url(parts: SplitResult, scheme: str, settings: Settings, resolve: Resolver) -> str:
    try:
        port = parts.port
    except ValueError:
        raise SourceNotAllowed("the URL's port is not a number between 0 and 65535") from None
    if parts.username is not None or parts.password is not None:
        raise SourceNotAllowed(
            "URLs with a user name or password are not accepted (they would be stored and "
            "shown with the run): give a URL without credentials"
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise SourceNotAllowed("the URL has no host name")
    literal = _ip_literal(host)
    if literal is None:
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise SourceNotAllowed(f"{host!r} is not a valid host name") from None
    if not settings.allow_private_sources:
        checked_addresses(host, settings, resolve)
    netloc = f"[{literal}]" if isinstance(literal, ipaddress.IPv6Address) else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def checked_addresses(host: str, settings: Settings, resolve: Resolver) -> list[str]:
    """The addresses to connect to for `host` (an IP literal is its own), each allowed by the
    policy; raises SourceNotAllowed when any answer is not public (unless private sources are
    allowed). Blocking: it resolves."""
    literal = _ip_literal(host)
    addresses = [literal] if literal is not None else _resolve(host, resolve)
    for address in addresses:
        check_address(host, address, settings)
    return [str(address) for address in addresses]


def check_address(host: str, address: str | IpAddress, settings: Settings) -> None:
    """Raises SourceNotAllowed when `address` (of `host`) is not public and private sources
    are not allowed."""
    parsed = _ip_literal(address) if isinstance(address, str) else address
    if settings.allow_private_sources:
        return
    kind = "unparseable" if parsed is None else _forbidden_kind(parsed)
    if kind is not None:
        raise SourceNotAllowed(
            f"{host} resolves to {address}, a {kind} address: only public hosts are "
            f"accepted ({_PRIVATE_HINT})"
        )


def _ip_literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


class NameLookupFailed(SourceNotAllowed):
    """The resolver could not answer now (not "no such name"): worth another try later."""


def no_such_name(error: BaseException) -> bool:
    """True when `error` (or its cause chain) is a resolver's "no such name" (NXDOMAIN, or a
    name without addresses): a typo, which no retry fixes."""
    current: BaseException | None = error
    for _ in range(8):
        if current is None:
            return False
        if isinstance(current, socket.gaierror) and current.errno in _NO_SUCH_NAME:
            return True
        current = current.__cause__ or current.__context__
    return False


_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


def _resolve(host: str, resolve: Resolver) -> list[IpAddress]:
    try:
        answers = list(resolve(host))
    except (OSError, UnicodeError) as error:
        if isinstance(error, UnicodeError) or no_such_name(error):
            raise SourceNotAllowed(
                f"the host {host} cannot be resolved: no such name (NXDOMAIN); check the URL"
            ) from None
        raise NameLookupFailed(f"the host {host} cannot be resolved now ({error})") from None
    addresses = [address for answer in answers if (address := _ip_literal(answer)) is not None]
    if not addresses:
        raise SourceNotAllowed(f"the host {host} has no address: check the URL")
    return addresses


def _forbidden_kind(address: IpAddress) -> str | None:
    """Why an address is not public, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),
    )
    return next((kind for kind, matches in checks if matches), None)


def _allowed_dirs(settings: Settings) -> list[Path]:
    return [directory.resolve() for directory in settings.allowed_source_dirs]


def _allowed_dirs_text(settings: Settings) -> str:
    if not settings.allowed_source_dirs:
        return "an allowed directory (none is configured: set ALLOWED_SOURCE_DIRS)"
    return "one of " + ", ".join(str(d) for d in settings.allowed_source_dirs)


NO_ALLOWED_DIRS = (
    "ALLOWED_SOURCE_DIRS is not set here, so no local file may be read for an API request or "
    "a feed: set ALLOWED_SOURCE_DIRS to the directories they may read (e.g. "
    "ALLOWED_SOURCE_DIRS=/data, or a JSON list), on the API and on every worker"
)


def _check_path(text: str, settings: Settings) -> str:
    allowed = _allowed_dirs(settings)
    if not allowed:
        raise SourceNotAllowed(f"{text} is a local file, and {NO_ALLOWED_DIRS}")
    path = Path(text)
    if not path.is_absolute():
        raise SourceNotAllowed(f"{text!r} is a relative path: give an absolute path")
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError):
        raise SourceNotAllowed(f"the path {text!r} cannot be resolved") from None
    if not any(resolved.is_relative_to(directory) for directory in allowed):
        raise SourceNotAllowed(
            f"{text} is outside the allowed directories: put the file inside "
            f"{_allowed_dirs_text(settings)}"
        )
    if resolved.is_dir():
        raise SourceNotAllowed(f"{text} is a directory, not a file")
    if not resolved.is_file():
        raise SourceNotAllowed(f"no such file: {text}")
    return str(resolved)
