"""Settings as operators write them in the environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from configs.config import Settings


@pytest.mark.parametrize(
    ("written", "directories"),
    [
        ("/data", ["/data"]),
        (f"/a{os.pathsep}/b", ["/a", "/b"]),
        (f" /a {os.pathsep}{os.pathsep} /b ", ["/a", "/b"]),
        ('["/data", "/srv/feeds"]', ["/data", "/srv/feeds"]),
        ("", []),
    ],
)
def test_allowed_source_dirs_is_a_json_list_or_a_path_list(
    monkeypatch: pytest.MonkeyPatch, written: str, directories: list[str]
) -> None:
    monkeypatch.setenv("ALLOWED_SOURCE_DIRS", written)
    assert Settings(_env_file=None).allowed_source_dirs == [Path(d) for d in directories]


def test_a_broken_json_list_says_what_to_write(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_SOURCE_DIRS", '["/data",')
    with pytest.raises(ValidationError, match=r'e\.g\. \["/data"\]'):
        Settings(_env_file=None)
