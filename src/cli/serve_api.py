"""Running the API with uvicorn: what `tenders api [--host] [--port] [--workers N]` calls,
after the CLI has resolved the servers' URLs (so `get_settings()` sees them). The app is
named by its import string, so the CLI does not import the API, and uvicorn can build it in
each of several worker processes.

Without API_TOKENS the API is open to whoever reaches it, so it is served that way only on
a loopback address (this machine), or anywhere when the operator says `--insecure`."""

from __future__ import annotations

import ipaddress
import logging
import os

import uvicorn

from configs.config import ConfigurationError, get_settings

APP_FACTORY = "src.api.app:create_app"
log = logging.getLogger("tenders.cli")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allow_without_tokens(host: str, *, insecure: bool) -> None:
    """With no API_TOKENS: serve openly on loopback or when told --insecure (saying so on
    stderr), else refuse with what to do."""
    if get_settings().api_tokens:
        return
    if not (insecure or is_loopback(host)):
        raise ConfigurationError(
            f"refusing to serve the API on {host} without API_TOKENS: anyone who reaches it "
            "could read everything and queue ingests. Make a token with `tenders api-token "
            "NAME --scope read,write` and set API_TOKENS, or listen on 127.0.0.1, or pass "
            "--insecure if something in front of the API authenticates its clients."
        )
    log.warning("API_TOKENS is not set: the API on %s answers anyone without a token", host)
    os.environ["API_INSECURE"] = "true"
    get_settings.cache_clear()


def serve(
    host: str, port: int, *, insecure: bool = False, workers: int = 1, access_log: bool = True
) -> None:
    """Serve until interrupted; the app's lifespan opens and closes the pools. With several
    `workers`, uvicorn's supervisor runs that many processes on the one socket, each with
    its own app, pools and connections (DB_POOL_SIZE each); the rate limit is shared, in
    Redis, and /metrics reads the database, so every process answers alike."""
    allow_without_tokens(host, insecure=insecure)
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=30,
    )
