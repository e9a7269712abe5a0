"""Before any command touches the database or Redis: resolve their URLs. With DATABASE_URL /
REDIS_URL unset, the embedded servers are started and their URLs put in the environment, so
that the settings (and the worker, and Alembic) read them like any other value."""

from __future__ import annotations

import logging
import os
import sys

from configs.config import Settings, get_settings

_SERVER_NAMES = {"DATABASE_URL": "PostgreSQL", "REDIS_URL": "Redis"}
# Set by `tenders worker --processes N` for each process it starts (1..N): its log lines say
# which process wrote them.
WORKER_NUMBER_ENV = "TENDERS_WORKER_NUMBER"


def resolve_servers() -> Settings:
    """The settings, with embedded servers started for the URLs that are unset. Saying so
    is for when they start: a command that finds them running says it only with -v."""
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
        used = " and ".join(_SERVER_NAMES[name] for name in missing)
        note = f"under {servers.data_dir} (set {' / '.join(missing)} to use your own servers)"
        if servers.started:
            print(f"started embedded {' and '.join(servers.started)} {note}", file=sys.stderr)
        else:
            logging.getLogger("tenders.cli").debug("using embedded %s %s", used, note)
    get_settings.cache_clear()
    return get_settings()


class RunContext(logging.Filter):
    """Every log line names its run and job when it has them: `[run 1f2e… job ingest:ab…]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        run_id = getattr(record, "run_id", None)
        job_id = getattr(record, "job_id", None)
        record.context = f" [run {run_id} job {job_id}]" if run_id else ""
        return True


class FailedJobLine(logging.Filter):
    """arq logs a failed job with its whole traceback. An ingest job's failure is logged by
    the job itself, on one line with its run id and reason (`src.ingest.outcome`): arq's
    line is dropped; other jobs' keep one line, without the traceback. `--verbose` (or
    DEBUG=true) keeps everything."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "arq.worker" or not record.exc_info:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) > 1 and str(args[1]).startswith("ingest:"):
            return False
        record.exc_info = None
        record.exc_text = None
        return True


def configure_logging(verbose: bool, *, tracebacks: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RunContext())
    if not (verbose or tracebacks):
        handler.addFilter(FailedJobLine())
    number = os.environ.get(WORKER_NUMBER_ENV, "")
    process = f" [worker {number}]" if number.isdigit() else ""
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s %(name)s{process}%(context)s: %(message)s")
    )
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    for noisy in ("httpx", "pgserver", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
