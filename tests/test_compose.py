"""docker-compose.yml, checked where Docker does not run: against the Compose Specification's
JSON schema (tests/fixtures/compose-spec; its README says where it comes from), and against
what the README promises: one image built once, ./data mounted read-only at /data and
allowed, and a database password with `@`, `:` and `/` that reaches asyncpg unchanged."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml  # type: ignore[import-untyped]
from pydantic import SecretStr
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url

from configs.config import Settings, database_url_from_parts
from tests.support.paths import FIXTURES, ROOT
from tests.support.processes import run_cli

COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = FIXTURES / "compose-spec" / "compose-spec.json"
APP_SERVICES = ("migrations", "worker", "api")
PASSWORD = "p@ss:w/rd%41 #?"
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def load(path: Path = COMPOSE) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())  # resolves anchors and <<
    return loaded


def schema_errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema_rs.validator_for(json.loads(SCHEMA.read_text()))
    return [
        f"{'/'.join(map(str, error.instance_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's `${NAME:-default}` and `$$`: what this file uses."""
    return _VARIABLE.sub(lambda m: env.get(m[1]) or m[2] or "", value).replace("$$", "$")


def environment(service: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    values: dict[str, Any] = load()["services"][service].get("environment", {})
    return {name: interpolate(str(value), env or {}) for name, value in values.items()}


def test_the_file_follows_the_compose_specification() -> None:
    assert schema_errors(load()) == []


def test_the_schema_check_catches_mistakes() -> None:
    broken = load()
    broken["services"]["api"]["volumes"] = "./data:/data:ro"  # a string, not a list
    broken["services"]["worker"]["restart_policy"] = "always"  # no such key
    errors = schema_errors(broken)
    assert len(errors) == 2, errors


def test_one_image_is_built_once_and_shared() -> None:
    services = load()["services"]
    assert [name for name, service in services.items() if "build" in service] == ["migrations"]
    assert {services[name]["image"] for name in APP_SERVICES} == {"tenders:latest"}
    for name in ("worker", "api"):
        assert services[name]["pull_policy"] == "never"  # never fetched from a registry
    build = services["migrations"]["build"]
    dockerfile = (ROOT / build["context"] / build["dockerfile"]).read_text()
    assert "pip install" in dockerfile and "USER nobody" in dockerfile


def test_the_build_context_leaves_out_what_is_local_large_or_secret() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".data", "data", ".env", "tests", ".pytest_cache"} <= ignored
    assert {".mypy_cache", ".ruff_cache", "**/__pycache__"} <= ignored
    copied = re.findall(r"^COPY (.+) \S+$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    sources = {part for line in copied for part in line.split()}
    assert sources == {"pyproject.toml", "README.md", "configs", "src", "workers"}
    assert not sources & ignored


def test_every_service_of_ours_names_both_servers() -> None:
    """Every `tenders` command resolves PostgreSQL and Redis first, starting embedded ones for
    what is not set, and the image has none: each service must name both."""
    for name in APP_SERVICES:
        values = environment(name)
        assert values["POSTGRES_HOST"] == "postgres", name
        assert values["REDIS_URL"] == "redis://redis:6379/0", name


def test_local_files_are_mounted_read_only_and_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    services = load()["services"]
    for name in ("worker", "api"):
        assert "./data:/data:ro" in services[name]["volumes"]
        monkeypatch.setenv("ALLOWED_SOURCE_DIRS", environment(name)["ALLOWED_SOURCE_DIRS"])
        assert Settings(_env_file=None).allowed_source_dirs == [Path("/data")]


def test_a_password_with_at_colon_slash_reaches_asyncpg_unchanged() -> None:
    env = {"POSTGRES_PASSWORD": PASSWORD}
    assert environment("postgres", env)["POSTGRES_PASSWORD"] == PASSWORD
    for name in APP_SERVICES:
        values = environment(name, env)
        assert "DATABASE_URL" not in values
        settings = Settings(
            _env_file=None,
            postgres_host=values["POSTGRES_HOST"],
            postgres_port=int(values["POSTGRES_PORT"]),
            postgres_user=values["POSTGRES_USER"],
            postgres_password=SecretStr(values["POSTGRES_PASSWORD"]),
            postgres_db=values["POSTGRES_DB"],
        )
        url = make_url(settings.require_database_url())
        assert (url.host, url.port, url.username, url.database) == (
            "postgres",
            5432,
            "tenders",
            "tenders",
        )
        assert url.password == PASSWORD
        _, connect = asyncpg_dialect().create_connect_args(url)  # type: ignore[no-untyped-call]
        assert connect["password"] == PASSWORD and connect["host"] == "postgres"


def test_database_url_wins_over_the_parts() -> None:
    given = "postgresql+asyncpg://app@db.internal:5433/tenders"
    settings = Settings(_env_file=None, database_url=given, postgres_host="postgres")
    assert settings.require_database_url() == given
    assert Settings(_env_file=None, postgres_password="x").database_url is None  # no host
    ipv6 = database_url_from_parts("::1", 5432, "u", None, None)
    assert make_url(ipv6).host == "::1" and make_url(ipv6).database == "u"


def test_the_cli_connects_with_the_parts_as_compose_sets_them(fresh_database_url: str) -> None:
    """`tenders db current` with POSTGRES_* only, as in a compose service: no embedded server
    starts, and the URL built from the parts reaches the database."""
    url = make_url(fresh_database_url)
    if url.host is None:
        pytest.skip("the test PostgreSQL listens on a unix socket only")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PRIMARY_DB_URL")}
    env.update(
        POSTGRES_HOST=url.host,
        POSTGRES_PORT=str(url.port or 5432),
        POSTGRES_USER=url.username or "postgres",
        POSTGRES_PASSWORD=PASSWORD,  # ignored under trust authentication, but sent
        POSTGRES_DB=url.database or "postgres",
        REDIS_URL=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    result = run_cli(env, "db", "current")
    assert result.returncode == 0, result.stderr
    assert "embedded" not in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
