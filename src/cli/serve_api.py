"""Running the API with uvicorn: what `tenders api [--host] [--port]` calls, after the CLI
has resolved the servers' URLs (so `get_settings()` sees them). The app is named by its
import string, so the CLI does not import the API, and uvicorn can build it in each of
several worker processes."""

from __future__ import annotations

import uvicorn

APP_FACTORY = "src.api.app:create_app"


def serve(host: str, port: int) -> None:
    """Serve until interrupted; the app's lifespan opens and closes the pools."""
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=30,
    )
