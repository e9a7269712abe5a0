"""Who may use the API: a bearer token from API_TOKENS (configs/tokens.py), its scopes, and
its rate. `TokenAuth` is middleware, so an unknown client gets a 401 before anything else
is read (its body, or whether a route exists); each route then names the scope it needs
with one of the `require_*` dependencies (403 without it). /healthz stays open for load
balancers and says nothing but up or down."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import redis.exceptions
from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from configs.config import Settings
from configs.tokens import SCOPES, match
from src.api.schemas import ErrorMessage
from src.infra import rate_limit

log = logging.getLogger("tenders.api")

PRINCIPAL = "tenders.principal"  # where the middleware leaves the caller, in the ASGI scope
OPEN_PATHS = frozenset({"/healthz"})
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
ANONYMOUS = "anonymous"  # the caller when API_INSECURE serves without tokens
CHALLENGE = {"WWW-Authenticate": "Bearer"}

bearer = HTTPBearer(
    auto_error=False,
    description="An API token from API_TOKENS: `Authorization: Bearer tnd_…` "
    "(`tenders api-token NAME --scope read` makes one).",
)
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorMessage, "description": "No token, or not a known one."},
    403: {"model": ErrorMessage, "description": "The token lacks the scope this needs."},
    429: {"model": ErrorMessage, "description": "Too many requests: see Retry-After."},
}


@dataclass(frozen=True)
class Principal:
    """The caller: a configured token's name and scopes."""

    name: str
    scopes: frozenset[str]


def authenticate(settings: Settings, authorization: str | None) -> Principal | str:
    """The caller, or why it is refused."""
    if not settings.api_tokens:
        if settings.api_insecure:
            return Principal(ANONYMOUS, frozenset(SCOPES))
        return (
            "this API has no tokens configured: set API_TOKENS "
            "(`tenders api-token NAME --scope read` makes one)"
        )
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return "send a token: Authorization: Bearer <token>"
    token = match(settings.api_tokens, credentials.strip())
    if token is None:
        return "unknown token"
    return Principal(token.name, token.scopes)


class TokenAuth:
    """Authenticates every request but /healthz (and the docs when API_DOCS is on), then
    takes one request from the caller's bucket (429 with Retry-After when it is empty)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.open_paths = OPEN_PATHS | (DOCS_PATHS if settings.api_docs else frozenset())
        self.reserve = rate_limit.Reserve()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _route_path(scope) in self.open_paths:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        caller = authenticate(self.settings, request.headers.get("authorization"))
        if isinstance(caller, str):
            await JSONResponse({"detail": caller}, 401, CHALLENGE)(scope, receive, send)
            return
        wait = await self._take(request, caller)
        if wait > 0:
            detail = f"more than {self.settings.api_rate_per_minute} requests a minute"
            headers = {"Retry-After": str(max(1, math.ceil(wait)))}
            await JSONResponse({"detail": detail}, 429, headers)(scope, receive, send)
            return
        scope[PRINCIPAL] = caller
        await self.app(scope, receive, send)

    async def _take(self, request: Request, caller: Principal) -> float:
        """Seconds until the caller may make another request; 0 when it may now. Without
        Redis the request goes through unlimited (and is logged): reads keep working while
        Redis restarts, and writes need Redis anyway."""
        state = getattr(request.app.state, "api", None)
        if state is None:
            return 0.0
        key = f"{self.settings.queue_name}:api-rate:{caller.name}"
        try:
            return await self.reserve.take(
                state.queue,
                key,
                per_minute=self.settings.api_rate_per_minute,
                burst=self.settings.api_rate_burst,
            )
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
            log.warning("rate limit not applied to %s: Redis unavailable (%r)", caller.name, e)
            return 0.0


def _route_path(scope: Scope) -> str:
    """The path the router matches: without the root path a proxy mounts the app under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _requires(scope: str) -> Callable[..., Awaitable[Principal]]:
    async def principal(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        caller = request.scope.get(PRINCIPAL)
        if not isinstance(caller, Principal):
            raise HTTPException(401, "send a token: Authorization: Bearer <token>", CHALLENGE)
        if scope not in caller.scopes:
            raise HTTPException(403, f"the token {caller.name!r} lacks the {scope} scope")
        return caller

    principal.__name__ = f"require_{scope}"
    return principal


require_read = _requires("read")
require_write = _requires("write")
require_metrics = _requires("metrics")
