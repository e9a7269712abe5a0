"""What the API and feeds may ingest: public http(s) URLs and files under allowed dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from configs.config import Settings
from src.infra.source_policy import SourceNotAllowed, check_source, check_source_async
from tests.support.api import fake_resolver


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "releases.json").write_text("[]")
    return folder


@pytest.fixture
def policy(allowed: Path) -> Settings:
    return Settings(allowed_source_dirs=[allowed])


def check(source: str, settings: Settings) -> str:
    return check_source(source, settings, resolve=fake_resolver)


def refused(source: str, settings: Settings) -> str:
    with pytest.raises(SourceNotAllowed) as caught:
        check(source, settings)
    return str(caught.value)


@pytest.mark.parametrize(
    ("source", "normalised"),
    [
        ("https://feeds.example.org/ocds.json", "https://feeds.example.org/ocds.json"),
        ("  HTTPS://Feeds.Example.ORG:443/a?b=1#top ", "https://feeds.example.org/a?b=1"),
        ("http://feeds.example.org", "http://feeds.example.org/"),
        ("http://feeds.example.org:8080/x.json.gz", "http://feeds.example.org:8080/x.json.gz"),
        ("https://93.184.215.14/x", "https://93.184.215.14/x"),
        ("https://[2606:2800:21f:cb07::1]:8443/x", "https://[2606:2800:21f:cb07::1]:8443/x"),
    ],
)
def test_public_urls_are_accepted_and_normalised(
    source: str, normalised: str, policy: Settings
) -> None:
    assert check(source, policy) == normalised


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("http://intranet.example.org/feed", "private"),
        ("http://localhost:8000/feed", "loopback"),
        ("http://mixed.example.org/feed", "loopback"),
        ("http://127.0.0.1/feed", "loopback"),
        ("http://[::1]/feed", "loopback"),
        ("http://[::ffff:127.0.0.1]/feed", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://192.168.1.10/", "private"),
        ("http://100.64.0.1/", "non-public"),
    ],
)
def test_private_addresses_are_refused(source: str, kind: str, policy: Settings) -> None:
    message = refused(source, policy)
    assert f"a {kind} address" in message
    assert "ALLOW_PRIVATE_SOURCES" in message


def test_private_hosts_are_allowed_when_configured(allowed: Path) -> None:
    settings = Settings(allowed_source_dirs=[allowed], allow_private_sources=True)

    def no_dns(host: str) -> list[str]:
        raise AssertionError("nothing to resolve when private hosts are allowed")

    assert check_source("http://localhost:8000/f", settings, resolve=no_dns) == (
        "http://localhost:8000/f"
    )


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ("file:///etc/passwd", "give the file's path instead"),
        ("ftp://feeds.example.org/x.json", "give an http:// or https:// URL"),
        ("gopher://feeds.example.org/", "are not accepted"),
        ("https://user:secret@feeds.example.org/x", "without credentials"),
        ("https://feeds.example.org:99999/x", "port"),
        ("https:///x.json", "no host name"),
        ("https://unknown.example.org/x", "cannot be resolved"),
        ("", "empty"),
        ("   ", "empty"),
        ("/data/x\x00.json", "NUL"),
    ],
)
def test_other_sources_are_refused_with_a_hint(source: str, hint: str, policy: Settings) -> None:
    assert hint in refused(source, policy)


def test_a_refusal_never_repeats_a_password(policy: Settings) -> None:
    assert "secret" not in refused("https://user:secret@feeds.example.org/x", policy)


def test_files_inside_an_allowed_directory(allowed: Path, policy: Settings) -> None:
    assert check(str(allowed / "releases.json"), policy) == str(
        (allowed / "releases.json").resolve()
    )
    assert check(f"{allowed}/./sub/../releases.json", policy) == str(
        (allowed / "releases.json").resolve()
    )


def test_path_traversal_is_refused(allowed: Path, policy: Settings) -> None:
    message = refused(f"{allowed}/../../../etc/passwd", policy)
    assert "outside the allowed directories" in message
    assert str(allowed) in message, "the message says where files may be"


def test_a_symlink_out_of_the_directory_is_refused(
    allowed: Path, tmp_path: Path, policy: Settings
) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text("{}")
    (allowed / "link.json").symlink_to(secret)
    assert "outside the allowed directories" in refused(str(allowed / "link.json"), policy)


def test_a_directory_whose_name_extends_the_allowed_one_is_outside(
    allowed: Path, policy: Settings
) -> None:
    sibling = allowed.with_name(allowed.name + "-other")
    sibling.mkdir()
    (sibling / "x.json").write_text("[]")
    assert "outside" in refused(str(sibling / "x.json"), policy)


def test_a_symlink_into_the_directory_is_followed(
    allowed: Path, tmp_path: Path, policy: Settings
) -> None:
    (tmp_path / "shortcut.json").symlink_to(allowed / "releases.json")
    assert check(str(tmp_path / "shortcut.json"), policy) == str(
        (allowed / "releases.json").resolve()
    )


def test_missing_files_directories_and_relative_paths(allowed: Path, policy: Settings) -> None:
    assert "no such file" in refused(str(allowed / "missing.json"), policy)
    assert "is a directory, not a file" in refused(str(allowed), policy)
    assert "absolute path" in refused("data/releases.json", policy)


def test_no_files_at_all_without_allowed_directories(allowed: Path) -> None:
    message = refused(str(allowed / "releases.json"), Settings())
    assert "ALLOWED_SOURCE_DIRS" in message


async def test_the_async_check_runs_in_a_thread(policy: Settings) -> None:
    source = "https://feeds.example.org/x"
    assert await check_source_async(source, policy, resolve=fake_resolver) == source
    with pytest.raises(SourceNotAllowed):
        await check_source_async("http://localhost/", policy, resolve=fake_resolver)
