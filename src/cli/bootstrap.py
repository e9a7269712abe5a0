"""Before any command touches the database or Redis: resolve their URLs. With DATABASE_URL /
REDIS_URL unset, the embedded servers are started and their URLs put in the environment, so
that the settings (and the worker, and Alembic) read them like any other value."""

from __future__ import annotations

import logging
import os
import sys

from configs.config import Settings, get_settings


def resolve_servers() -> Settings:
    settings = Settings()
    missing = [
        name
        for name, value in (
            ("DATABASE_URL", settings.database_url),
            ("REDIS_URL", settings.redis_url),
        )
        if value is None
    ]
    if missing:
        from src.infra import embedded

        servers = embedded.start(settings.data_dir)
        if settings.database_url is None:
            os.environ["DATABASE_URL"] = servers.database_url
        if settings.redis_url is None:
            os.environ["REDIS_URL"] = servers.redis_url
        print(
            f"using embedded {' and '.join(missing).replace('_URL', '')} under "
            f"{servers.data_dir} (set {' / '.join(missing)} to use your own servers)",
            file=sys.stderr,
        )
    get_settings.cache_clear()
    return get_settings()


class RunContext(logging.Filter):
    """Every log line names its run and job when it has them: `[run 1f2e… job ingest:ab…]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        run_id = getattr(record, "run_id", None)
        job_id = getattr(record, "job_id", None)
        record.context = f" [run {run_id} job {job_id}]" if run_id else ""
        return True


def configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RunContext())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s")
    )
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    for noisy in ("httpx", "pgserver", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
