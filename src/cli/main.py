"""`tenders`: the command line. Every command resolves the servers first (embedded ones when
DATABASE_URL / REDIS_URL are unset), then imports what touches them."""

from __future__ import annotations

import asyncio
import traceback
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from src.cli import alerts_send, commands, errors
from src.cli import inspect as inspect_cli
from src.cli import watches as watches_cli
from src.cli.bootstrap import configure_logging, resolve_servers
from src.cli.help import HELP_ONLY, TendersGroup, quiet_flag_types
from src.cli.inspect import tracked_fields
from src.domain.formats import Format
from src.domain.tender.schemas import TRACKED_FIELDS
from src.infra.runtime import run_service

quiet_flag_types()
app = typer.Typer(
    cls=TendersGroup,
    help="Keep a PostgreSQL database of public tenders complete and current.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
feeds_app = typer.Typer(help="Sources ingested on a schedule.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
app.add_typer(db_app, name="db")
app.add_typer(watches_cli.watch_app, name="watch")

EncodingOption = Annotated[
    str | None,
    typer.Option("--encoding", help="The source's encoding when it is not UTF-8 (e.g. cp1252)."),
]
FORMATS = ", ".join(member.value for member in Format)
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
        help=f"Force the format, one of: {FORMATS} (default: detected from the bytes).",
    ),
]


# Commands that touch neither the database nor Redis: no servers are started for them.
OFFLINE_COMMANDS = frozenset({"api-token", "stop", "servers"})


@app.callback()
def _setup(
    context: typer.Context,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logs, and tracebacks with errors.")
    ] = False,
) -> None:
    errors.set_verbose(verbose)
    configure_logging(verbose, tracebacks=errors.wants_traceback())
    if context.invoked_subcommand in OFFLINE_COMMANDS or context.meta.get(HELP_ONLY):
        return  # nothing to reach: no servers are started
    resolve_servers()


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="A file path, file:// or http(s):// URL.")],
    format: FormatOption = None,
    encoding: EncodingOption = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Follow the run until it ends, with its progress on stderr; "
            "exit 0 if it completes, 1 if it fails.",
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            help="Write the tenders without alert events: for the first ingest of a new "
            "source, so watches are not flooded.",
        ),
    ] = False,
) -> None:
    """Queue SOURCE for ingestion; prints the job and run ids. The source is checked first
    (a readable file, a host that resolves, a known format and encoding): a refused one is
    one line on stderr, exit 2, and nothing is queued."""
    asyncio.run(commands.ingest(source, format, encoding, wait=wait, quiet=quiet))


@app.command()
def worker(
    burst: Annotated[
        bool,
        typer.Option(help="Run the queued jobs, print a summary, stop; exit 1 if a job failed."),
    ] = False,
    check: Annotated[bool, typer.Option(help="Exit 0 if a worker is alive, 1 if not.")] = False,
    processes: Annotated[
        str,
        typer.Option(
            "--processes",
            metavar="N",
            help="Run N worker processes (1-64) sharing the queue and the chunks of a big "
            "file; a process that dies is started again. Signals go to all of them.",
        ),
    ] = "1",
    jobs_file: Annotated[
        Path | None,
        typer.Option(
            hidden=True,
            help="(internal) one of --processes N: write the ids of the jobs run here.",
        ),
    ] = None,
) -> None:
    """Run the worker. While PostgreSQL or Redis is unreachable it keeps trying, waiting
    longer each time (up to a minute); Ctrl-C stops it gracefully."""
    from src.cli.supervisor import parse_processes

    if check:
        raise typer.Exit(asyncio.run(commands.check_worker()))
    count = parse_processes(processes)
    raise typer.Exit(
        run_service(commands.run_worker(burst=burst, processes=count, jobs_file=jobs_file))
    )


@app.command()
def run(
    source: Annotated[
        str | None, typer.Argument(help="A file path or URL (default: the bundled sample).")
    ] = None,
) -> None:
    """Migrate, ingest SOURCE (default: the bundled sample) with a burst worker, summarise."""
    asyncio.run(commands.run_once(source))


@app.command()
def runs(
    format: Annotated[str, typer.Option("--format", "-f", help="table or jsonl")] = "table",
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """Recent ingest runs with their counts and errors."""
    if format not in ("table", "jsonl"):
        raise typer.BadParameter("--format must be table or jsonl")
    asyncio.run(commands.list_runs(format, limit))


@app.command()
def rejections(
    run_id: Annotated[str, typer.Argument(help="A run id or its first characters (4 or more).")],
    format: Annotated[str, typer.Option("--format", "-f", help="table or jsonl")] = "table",
) -> None:
    """The records a run could not map, with the reasons, and the fields it left empty in
    the tenders it kept (kind `field`, with the value the source gave)."""
    if format not in ("table", "jsonl"):
        raise typer.BadParameter("--format must be table or jsonl")
    asyncio.run(commands.list_rejections(run_id, format))


@app.command()
def export(
    format: Annotated[str, typer.Option("--format", "-f", help="jsonl or csv")] = "jsonl",
) -> None:
    """Every tender to stdout, one per line, in a stable order."""
    if format not in ("jsonl", "csv"):
        raise typer.BadParameter("--format must be jsonl or csv")
    asyncio.run(commands.export(format))


@app.command()
def history(
    cig_or_id: Annotated[str, typer.Argument(help="A CIG, a tender id (or its start), a key.")],
) -> None:
    """The changes of one tender (by CIG, id or identity key): deadline moved, status, ..."""
    asyncio.run(commands.history(cig_or_id))


@app.command()
def changes(
    since: Annotated[
        datetime,
        typer.Option(
            help="Changes after this moment (ISO 8601).",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S"],
        ),
    ],
    format: Annotated[str, typer.Option("--format", "-f", help="table or jsonl")] = "table",
    limit: Annotated[int | None, typer.Option(help="At most this many, oldest first.")] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            help="Only changes of this field (repeat it, or a comma list): "
            + ", ".join(TRACKED_FIELDS),
            metavar="FIELD",
        ),
    ] = None,
) -> None:
    """The feed of all changes after --since: what an alerting job polls."""
    if format not in ("table", "jsonl"):
        raise typer.BadParameter("--format must be table or jsonl")
    asyncio.run(commands.changes(since, format, limit, tracked_fields(field or [])))


@app.command()
def reprocess(
    source: Annotated[str | None, typer.Option(help="Only this source (anac, ted, ...).")] = None,
) -> None:
    """Rebuild tenders from the stored raw publications with the current mapping."""
    asyncio.run(commands.reprocess(source))


@feeds_app.command("add")
def feeds_add(
    source: Annotated[
        str, typer.Argument(help="An http(s) URL, or a file in ALLOWED_SOURCE_DIRS.")
    ],
    format: FormatOption = None,
    interval: Annotated[int, typer.Option(help="Seconds between ingests.")] = 3600,
    encoding: EncodingOption = None,
) -> None:
    """Register SOURCE to be ingested every INTERVAL seconds."""
    asyncio.run(commands.feeds_add(source, format, interval, encoding))


@feeds_app.command("list")
def feeds_list() -> None:
    """The registered feeds, when each was last and is next due."""
    asyncio.run(commands.feeds_list())


@feeds_app.command("remove")
def feeds_remove(
    source_or_id: Annotated[str, typer.Argument(help="The feed's source, id or id's start.")],
) -> None:
    """Stop ingesting a feed."""
    asyncio.run(commands.feeds_remove(source_or_id))


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    insecure: Annotated[
        bool,
        typer.Option(help="Serve without API_TOKENS on a non-loopback address (no auth)."),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="API processes sharing the port (uvicorn's supervisor); about one per core.",
        ),
    ] = 1,
    access_log: Annotated[
        bool, typer.Option(help="Log a line per request (off: a few percent more req/s).")
    ] = True,
) -> None:
    """Serve the HTTP API (tenders, changes, ingest jobs, /healthz, /metrics) with uvicorn.
    Clients need a token from API_TOKENS; without any, only on a loopback address."""
    from src.cli.serve_api import serve

    serve(host, port, insecure=insecure, workers=workers, access_log=access_log)


@app.command("api-token")
def api_token(
    name: Annotated[str, typer.Argument(help="Who holds it: shown in logs and run rows.")],
    scope: Annotated[
        str,
        typer.Option(
            help="Comma-separated: read (tenders, changes, jobs, watches), write (queue "
            "ingests, manage watches), metrics."
        ),
    ] = "read",
) -> None:
    """Make a new API token: prints the token (give it to the client; it is not stored) and
    the entry to add to API_TOKENS (only its hash)."""
    from configs.tokens import new_token

    try:
        token, entry = new_token(name, scope.split(","))
    except ValueError as error:
        raise typer.BadParameter(str(error).replace("API_TOKENS entry 1", "the token")) from None
    typer.echo(f"token: {token}")
    typer.echo(f"API_TOKENS entry: {entry.entry()}")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="The revision to reach.")] = "head",
) -> None:
    """Bring the database schema to REVISION (default: the latest)."""
    asyncio.run(commands.db_upgrade(revision))


@db_app.command("current")
def db_current() -> None:
    """The schema revision the database is at, and the latest one."""
    asyncio.run(commands.db_current())


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("--message", "-m", help="What the migration changes.")],
) -> None:
    """Write a new migration from the difference between the models and the database."""
    asyncio.run(commands.db_revision(message))


# Looking inside: tenders list / show / stats, and the embedded servers (servers, stop).
app.command("list")(inspect_cli.list_tenders)
app.command()(inspect_cli.show)
app.command()(inspect_cli.stats)
app.command()(inspect_cli.servers)
app.command()(inspect_cli.stop)
# What alerts were sent (`tenders watch …` manages the watches; `watch test` sends a sample).
app.command()(watches_cli.deliveries)
watches_cli.watch_app.command("test")(alerts_send.watch_test)


def main() -> None:
    """Expected failures end with one line on stderr and their exit code (src.cli.errors);
    the traceback too with --verbose or DEBUG=true."""
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as error:
        explained = error if isinstance(error, errors.CliError) else errors.settings_error(error)
        if explained is None:
            raise
        if errors.wants_traceback():
            traceback.print_exception(error)
        typer.echo(f"error: {explained}", err=True)
        raise SystemExit(getattr(explained, "code", errors.EXIT_USAGE)) from None
