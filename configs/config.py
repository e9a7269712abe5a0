"""Settings for every process (CLI, worker, API), read from the environment or a `.env` file.

Connection URLs are secrets: they can carry passwords, so they are `SecretStr` and only
`redact_url()` output ever reaches a log line.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from configs.tokens import ApiToken, parse_tokens


class ConfigurationError(RuntimeError):
    """A setting is missing or wrong; the message says which and what to do."""


def normalize_database_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` as users write them (asyncpg is implied)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***`, safe for logs and CLI output."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def database_url_from_parts(
    host: str, port: int | str, user: str, password: str | None, database: str | None
) -> str:
    """A URL whose parts are percent-encoded: a password may hold `@`, `:`, `/` or `%`
    (SQLAlchemy and asyncpg decode it back). The database defaults to the user's name."""
    auth = quote(user, safe="")
    if password:
        auth += ":" + quote(password, safe="")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"postgresql+asyncpg://{auth}@{host}:{port}/{quote(database or user, safe='')}"


class Settings(BaseSettings):
    # A value that fails validation is not echoed: it may be a password or a token.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    # PRIMARY_DB_URL / ANALYTICS_DB_URL (the names of the "multiple databases" example) are
    # accepted as aliases.
    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("database_url", "primary_db_url")
    )
    analytics_database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("analytics_database_url", "analytics_db_url"),
    )
    # Or the database URL from parts, when DATABASE_URL is unset and POSTGRES_HOST is set (as
    # docker-compose.yml does): no password needs percent-encoding by hand.
    postgres_host: str | None = None
    postgres_port: int = 5432
    postgres_user: str = "postgres"
    postgres_password: SecretStr | None = None
    postgres_db: str | None = None  # the user's name when unset, as in PostgreSQL
    redis_url: SecretStr | None = None
    # TLS for Redis (a rediss:// URL turns it on): CA bundle, client certificate and key.
    redis_ssl_ca_certs: str | None = None
    redis_ssl_certfile: str | None = None
    redis_ssl_keyfile: SecretStr | None = None
    redis_ssl_cert_reqs: str = "required"
    debug: bool = False

    # Pool: the seed's values; pre-ping and recycle keep month-long processes healthy.
    db_pool_size: int = 10
    db_max_overflow: int = 20
    db_pool_timeout: float = 30
    db_pool_recycle: int = 3600
    db_pool_pre_ping: bool = True
    # A pooled connection is pinged before use when it has sat unused this many seconds (0:
    # before every use, a round trip per request or batch); one in steady use is not, and a
    # connection that broke meanwhile fails its statement, which invalidates the pool.
    db_pool_ping_after: float = Field(default=1.0, ge=0)
    # Prepared statements kept per connection (asyncpg's and SQLAlchemy's caches): a query
    # run again skips its parse round trip. 0 behind PgBouncer in transaction mode before
    # 1.21 (which cannot keep a prepared statement across transactions).
    db_statement_cache_size: int = Field(default=100, ge=0)

    # Worker.
    queue_name: str = "tenders:queue"
    # Ingest jobs are CPU-bound Python: more at once in one process adds memory (each holds
    # its batches), not speed. Run more processes (or machines) instead.
    worker_max_jobs: int = 2
    worker_job_timeout: int = 3600
    worker_max_tries: int = 5
    worker_retry_backoff: float = 2.0
    worker_health_check_interval: int = 10
    # How often an idle worker (or one with a free job slot) asks Redis for jobs: a job, or
    # the next chunk of a split source once a slot frees, waits up to this long. 0.05 s costs
    # an idle worker under 1% of a core (0.25% at 0.2 s, the earlier default).
    worker_poll_delay: float = 0.05
    ingest_batch_size: int = Field(default=1000, ge=1)
    # A running job's in-progress key in Redis is kept alive this long at a time, so a job
    # whose worker was killed runs again after at most this many seconds.
    job_keepalive_seconds: int = Field(default=30, ge=5)
    # JSON Lines files at least this large are split into chunks of about chunk_bytes,
    # ingested by as many workers as there are.
    chunk_bytes: int = Field(default=32 * 1024**2, ge=1024)
    chunk_min_bytes: int = Field(default=64 * 1024**2, ge=1)

    # Cron: the minutes (0-59) at which due feeds are enqueued and lost runs swept.
    cron_minutes: set[int] = Field(default_factory=lambda: set(range(60)))
    cron_seconds: set[int] = Field(default_factory=lambda: {0})
    # A queued run whose job Redis lost is enqueued again after this many seconds; a running
    # one after this long without a heartbeat.
    sweep_queued_after: int = 30
    stalled_run_after: int = 300

    # Fetching.
    http_timeout: float = 60  # connecting, sending a request, waiting for a pooled connection
    # Seconds a download may go without a byte before it is dropped (and retried later).
    http_read_timeout: float = Field(default=30, gt=0)
    http_max_bytes: int = 8 * 1024**3  # bytes on the wire, before any Content-Encoding
    # A whole download, however slowly it trickles: it holds one of WORKER_MAX_JOBS slots.
    http_max_seconds: float = Field(default=900, gt=0)
    # A Retry-After (429/503) holds a feed back at most this long.
    retry_after_max_seconds: int = Field(default=24 * 3600, ge=0)
    # What a compressed source may inflate to (gzip bombs stop here; 1 GB sources pass).
    max_decompressed_bytes: int = 64 * 1024**3
    max_pages: int = 10_000  # `links.next` pages followed in one run
    # The most lines one quoted CSV field may span: past it, its quote is taken as unclosed
    # (the line that opened it is rejected and reading goes on at the next line).
    csv_max_record_lines: int = Field(default=100, ge=1)
    user_agent: str = "tenders-ingest/0.1"

    # Reading JSON: how deeply arrays and objects may nest in one document (a package, a JSON
    # line, an ANAC item), and how large one release, record, JSON line, ANAC item or a
    # package's own fields may be. An item past either is a rejection, not read. The depth
    # stays well under the 255 levels orjson can write when the raw publication is stored.
    max_json_depth: int = Field(default=64, ge=8, le=200)
    max_object_bytes: int = Field(default=64 * 1024**2, ge=1024)

    # Sources given through the API or registered as feeds (a path typed on the command line
    # is the user's own choice): files only under these directories; URLs that resolve to
    # loopback or private addresses only when allowed.
    # A JSON list (`["/data", "/srv/feeds"]`) or a plain os.pathsep-separated list (`/data`,
    # `/a:/b` on POSIX), as PATH is written.
    allowed_source_dirs: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    allow_private_sources: bool = False
    # Whose data such a source may write (JSON lists): the `anac` namespace only from ANAC's
    # hosts, `ted` only from TED's (subdomains included), `ocds:<prefix>` only from where its
    # stored tenders came from; sources under TRUSTED_SOURCES (URL prefixes, directories)
    # may write any namespace, as the operator's command line does.
    anac_hosts: list[str] = Field(
        default_factory=lambda: ["dati.anticorruzione.it", "anticorruzione.it"]
    )
    ted_hosts: list[str] = Field(default_factory=lambda: ["ted.europa.eu"])
    trusted_sources: list[str] = Field(default_factory=list)
    # Versions compare by date: a record or release dated later than now + this many seconds
    # would replace the real tender and pin it, and is refused.
    future_date_tolerance: int = Field(default=24 * 3600, ge=0)

    # The HTTP API. Clients need a token (configs/tokens.py says how to write them); with
    # none configured every request but /healthz is refused, unless API_INSECURE is set
    # (`tenders api` sets it itself on a loopback address).
    api_tokens: Annotated[list[ApiToken], NoDecode] = Field(default_factory=list)
    api_insecure: bool = False
    # Requests per minute per token (a token bucket in Redis, so every API process shares
    # it), and how many may come at once before the bucket is empty.
    api_rate_per_minute: int = Field(default=300, ge=1)
    api_rate_burst: int = Field(default=60, ge=1)
    # Ingest runs one token may have queued or running at a time.
    api_max_queued_runs: int = Field(default=50, ge=1)
    # Host headers the API answers to (TrustedHostMiddleware): a JSON list or a comma list.
    api_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "[::1]"]
    )
    # /docs and /redoc (their pages load Swagger UI and ReDoc from a CDN) and a public
    # /openapi.json; off, the schema is at /openapi.json for holders of a read token.
    api_docs: bool = False

    # Alerts (watches). Webhooks: the same policy as API-submitted sources (public hosts
    # only, checked at creation and at every connection) unless ALLOW_PRIVATE_WEBHOOKS.
    allow_private_webhooks: bool = False
    webhook_timeout_seconds: float = Field(default=10, gt=0)
    # A failed delivery is retried this many times in all, with exponential backoff from
    # WEBHOOK_BACKOFF_SECONDS up to WEBHOOK_BACKOFF_MAX_SECONDS (a Retry-After is honoured,
    # capped at the latter); a watch whose deliveries fail this many times in a row pauses.
    webhook_max_attempts: int = Field(default=10, ge=1)
    webhook_backoff_seconds: float = Field(default=30, ge=0)
    webhook_backoff_max_seconds: float = Field(default=3600, ge=0)
    watch_pause_after_failures: int = Field(default=20, ge=1)
    # Events sent in one webhook POST or one email, and how long a claimed delivery is held
    # by the dispatcher sending it before another may take it (a dispatcher that died).
    alerts_batch_size: int = Field(default=100, ge=1, le=1000)
    alerts_lease_seconds: int = Field(default=120, ge=10)
    # Deliveries that ended (sent or failed) are kept this long (for `tenders deliveries` and
    # `watch replay`), then pruned with their events by the cron.
    alerts_retention_days: int = Field(default=90, ge=1)
    # Email: smtp://user:password@host:port (smtps:// for TLS from the start; STARTTLS is used
    # when the server offers it), and the From address.
    smtp_url: SecretStr | None = None
    alerts_email_from: str = "tenders@localhost"

    # Embedded servers (developer machines): where their data lives.
    data_dir: Path = Path(".data")

    @model_validator(mode="before")
    @classmethod
    def _database_url_from_parts(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("postgres_host"):
            return data
        if data.get("database_url") is not None or data.get("primary_db_url") is not None:
            return data
        password = data.get("postgres_password")
        if isinstance(password, SecretStr):
            password = password.get_secret_value()
        url = database_url_from_parts(
            str(data["postgres_host"]),
            data.get("postgres_port") or 5432,
            str(data.get("postgres_user") or "postgres"),
            password,
            data.get("postgres_db"),
        )
        return {**data, "database_url": url}

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _api_tokens(cls, value: object) -> list[ApiToken]:
        return parse_tokens(value)

    @field_validator("allowed_source_dirs", mode="before")
    @classmethod
    def _directory_list(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                raise ValueError(
                    "ALLOWED_SOURCE_DIRS is neither a JSON list nor a list of directories "
                    f'separated by {os.pathsep!r}: write e.g. ["/data"] or /data{os.pathsep}/srv'
                ) from None
        return [part.strip() for part in text.split(os.pathsep) if part.strip()]

    @field_validator("api_allowed_hosts", mode="before")
    @classmethod
    def _host_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("[") and text.endswith("]") and '"' in text:
                return json.loads(text)  # a JSON list; `[::1],localhost` is a comma list
            return [host.strip() for host in text.split(",") if host.strip()]
        return value

    @field_validator("api_allowed_hosts")
    @classmethod
    def _host_patterns(cls, hosts: list[str]) -> list[str]:
        if not hosts:
            raise ValueError("API_ALLOWED_HOSTS is empty: name the hosts clients use, or *")
        for host in hosts:
            wildcard = "*" in host
            if wildcard and host != "*" and (not host.startswith("*.") or "*" in host[1:]):
                raise ValueError(f"API_ALLOWED_HOSTS: {host!r}: a wildcard is *.example.com")
        return hosts

    @field_validator("database_url", "analytics_database_url", mode="before")
    @classmethod
    def _asyncpg_driver(cls, value: object) -> object:
        if isinstance(value, str):
            return normalize_database_url(value)
        if isinstance(value, SecretStr):
            return SecretStr(normalize_database_url(value.get_secret_value()))
        return value

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigurationError(
                "DATABASE_URL is not set. Set it (postgresql://user:pass@host:5432/db), "
                "or use the `tenders` CLI with the embedded servers installed "
                "(pip install 'tenders[embedded]')."
            )
        return self.database_url.get_secret_value()

    def require_redis_url(self) -> str:
        if self.redis_url is None:
            raise ConfigurationError(
                "REDIS_URL is not set. Set it (redis://host:6379/0, rediss:// for TLS), "
                "or use the `tenders` CLI with the embedded servers installed "
                "(pip install 'tenders[embedded]')."
            )
        return self.redis_url.get_secret_value()


@lru_cache
def get_settings() -> Settings:
    return Settings()
