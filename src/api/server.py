"""Running the API with uvicorn: what `tenders api [--host] [--port]` calls, after the CLI
has resolved the servers' URLs (so `get_settings()` sees them)."""

from __future__ import annotations

import uvicorn

from src.api.app import create_app


def serve(host: str, port: int) -> None:
    """Serve until interrupted; the app's lifespan opens and closes the pools."""
    uvicorn.run(
        create_app(),
        host=host,
        port=port,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=30,
    )
