"""Where things are: the project, its fixtures, and the real sample data beside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# TENDERS_SHARED_DATA moves the real sample data elsewhere; pointing it at a missing folder
# shows what a clone without the data does (skips, or fails with TENDERS_REQUIRE_SHARED_DATA).
SHARED_DATA = Path(os.environ.get("TENDERS_SHARED_DATA") or ROOT.parent / "shared" / "data")
FIXTURES = ROOT / "tests" / "fixtures"
# CI sets this: a test that needs ../shared/data fails instead of skipping when it is absent,
# so the real-data tests can never disappear from a green run unnoticed.
REQUIRE_SHARED_DATA = "TENDERS_REQUIRE_SHARED_DATA"


def require_shared_data(*parts: str) -> Path:
    """The path under ../shared/data; skipped when absent on a user's clone, failed in CI."""
    path = SHARED_DATA.joinpath(*parts)
    if path.exists():
        return path
    message = f"real sample data not found at {path} (it lives beside the project)"
    if os.environ.get(REQUIRE_SHARED_DATA, "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message}; {REQUIRE_SHARED_DATA} is set, so this is a failure")
    pytest.skip(message)
