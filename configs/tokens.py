"""API tokens as an operator writes them in `API_TOKENS`, and how a presented token is matched.

An entry is `NAME:SCOPES:SHA256`: a name for logs, rate limits and run rows, the scopes it
grants (`read`, `write`, `metrics`, joined by commas) and the SHA-256 of the token in hex.
Only the hash is configured, so a leaked environment or `.env` does not leak a token; tokens
are 256 random bits, so a plain SHA-256 is as good as a slow hash for them. Entries are
separated by spaces, semicolons or commas, or given as a JSON list of strings:

    API_TOKENS="ci:read,write:9f86d0…; grafana:metrics:60303a…"

`tenders api-token NAME --scope read,write` prints a new token and its entry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

SCOPES = ("read", "write", "metrics")
TOKEN_PREFIX = "tnd_"  # noqa: S105 - what every token starts with, not a secret
# Longer than any token this project makes: a header this long is not one of ours.
MAX_TOKEN_LENGTH = 512

_NAME = r"[A-Za-z0-9_.-]{1,64}"
_SHA256 = r"[0-9a-fA-F]{64}"
_ENTRY = re.compile(rf"(?P<name>{_NAME}):(?P<scopes>[a-z]+(?:,[a-z]+)*):(?P<sha256>{_SHA256})")
_SEPARATOR = re.compile(r"[\s,;]*")
_ENTRY_END = " \t\r\n,;"


class ApiToken(BaseModel):
    """One configured token: never the token itself, only its hash."""

    model_config = ConfigDict(frozen=True)

    name: str
    scopes: frozenset[str]
    sha256: str

    def entry(self) -> str:
        """The line to put in API_TOKENS."""
        return f"{self.name}:{','.join(s for s in SCOPES if s in self.scopes)}:{self.sha256}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_token(name: str, scopes: Iterable[str]) -> tuple[str, ApiToken]:
    """A new random token and its configuration entry."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, _entry(name, ",".join(scopes), hash_token(token), 1)


def match(tokens: Iterable[ApiToken], presented: str) -> ApiToken | None:
    """The configured token whose hash is the presented token's, compared in constant time
    against every entry (no early exit tells how far a guess got)."""
    if not presented or len(presented) > MAX_TOKEN_LENGTH:
        return None
    digest = hash_token(presented)
    found = None
    for token in tokens:
        if hmac.compare_digest(digest, token.sha256):
            found = token
    return found


def parse_tokens(value: object) -> list[ApiToken]:
    """API_TOKENS as written in the environment (or a list, as tests and `.env` give it).
    Errors say which entry is wrong, never echoing it (it may be a token pasted by mistake)."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise ValueError("API_TOKENS starts with [ but is not a JSON list") from None
        else:
            return _unique(_scan(text))
    if not isinstance(value, list | tuple):
        raise ValueError("API_TOKENS must be a string or a list of NAME:SCOPES:SHA256 entries")
    tokens: list[ApiToken] = []
    for number, item in enumerate(value, 1):
        if isinstance(item, ApiToken):
            tokens.append(item)
        elif isinstance(item, dict):  # as model_dump() gives it back
            scopes = ",".join(str(scope) for scope in item.get("scopes", ()))
            name, sha256 = str(item.get("name", "")), str(item.get("sha256", ""))
            tokens.append(_entry(name, scopes, sha256, number))
        elif isinstance(item, str):
            found = _ENTRY.fullmatch(item.strip())
            if found is None:
                raise ValueError(_malformed(number))
            tokens.append(_entry(found["name"], found["scopes"], found["sha256"], number))
        else:
            raise ValueError(f"API_TOKENS entry {number} is not a string")
    return _unique(tokens)


def _scan(text: str) -> list[ApiToken]:
    tokens: list[ApiToken] = []
    position = 0
    while True:
        separator = _SEPARATOR.match(text, position)
        position = separator.end() if separator else position
        if position >= len(text):
            return tokens
        found = _ENTRY.match(text, position)
        number = len(tokens) + 1
        if found is None or (found.end() < len(text) and text[found.end()] not in _ENTRY_END):
            raise ValueError(_malformed(number))
        tokens.append(_entry(found["name"], found["scopes"], found["sha256"], number))
        position = found.end()


def _entry(name: str, scopes: str, sha256: str, number: int) -> ApiToken:
    if re.fullmatch(_NAME, name) is None:
        raise ValueError(f"API_TOKENS entry {number}: a name is 1-64 of A-Z a-z 0-9 _ . -")
    if re.fullmatch(_SHA256, sha256) is None:
        raise ValueError(_malformed(number))
    granted = frozenset(scope.strip() for scope in scopes.split(",") if scope.strip())
    unknown = sorted(granted - set(SCOPES))
    if unknown or not granted:
        raise ValueError(
            f"API_TOKENS entry {number} ({name}): unknown scope {', '.join(unknown) or '(none)'}; "
            f"scopes are {', '.join(SCOPES)}"
        )
    return ApiToken(name=name, scopes=granted, sha256=sha256.lower())


def _unique(tokens: list[ApiToken]) -> list[ApiToken]:
    names = [token.name for token in tokens]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"API_TOKENS names {', '.join(twice)} more than once")
    return tokens


def _malformed(number: int) -> str:
    return (
        f"API_TOKENS entry {number} is not NAME:SCOPES:SHA256 (SCOPES such as read,write; "
        "SHA256 the token's hash in 64 hex digits, never the token itself): "
        "`tenders api-token NAME --scope read` prints a token and its entry"
    )
