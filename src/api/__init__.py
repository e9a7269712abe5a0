"""The HTTP API (FastAPI): `create_app(settings)`; `server.serve(host, port)` runs it."""

from src.api.app import create_app

__all__ = ["create_app"]
