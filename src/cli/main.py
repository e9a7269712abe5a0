"""`tenders`: the command line. Every command resolves the servers first (embedded ones when
DATABASE_URL / REDIS_URL are unset), then imports what touches them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from configs.config import ConfigurationError
from src.cli import commands
from src.cli.bootstrap import configure_logging, resolve_servers
from src.domain.formats import Format
from src.domain.runs.request import IngestRequest

app = typer.Typer(
    help="Keep a PostgreSQL database of public tenders complete and current.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
feeds_app = typer.Typer(help="Sources ingested on a schedule.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
app.add_typer(db_app, name="db")

EncodingOption = Annotated[
    str | None,
    typer.Option("--encoding", help="The source's encoding when it is not UTF-8 (e.g. cp1252)."),
]
FormatOption = Annotated[
    Format | None,
    typer.Option("--format", "-f", help="Force the format (default: detected from the bytes)."),
]


# Commands that touch neither the database nor Redis: no servers are started for them.
OFFLINE_COMMANDS = frozenset({"api-token"})


@app.callback()
def _setup(
    context: typer.Context, verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False
) -> None:
    configure_logging(verbose)
    if context.invoked_subcommand not in OFFLINE_COMMANDS:
        resolve_servers()


@app.command()
def ingest(
    source: str,
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
) -> None:
    """Queue SOURCE (a path, file:// or http(s):// URL) for ingestion; prints the job id."""
    if "://" not in source:
        source = str(Path(source).resolve())
    request = IngestRequest(source, format=format, encoding=encoding)
    asyncio.run(commands.ingest(request, wait=wait))


@app.command()
def worker(
    burst: Annotated[bool, typer.Option(help="Stop when the queue is empty.")] = False,
    check: Annotated[bool, typer.Option(help="Exit 0 if a worker is alive, 1 if not.")] = False,
) -> None:
    """Run the worker (restarted in place if it loses Redis)."""
    if check:
        raise typer.Exit(asyncio.run(commands.check_worker()))
    asyncio.run(commands.run_worker(burst=burst))


@app.command()
def run(source: Annotated[str | None, typer.Argument()] = None) -> None:
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
    run_id: uuid.UUID,
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
def history(cig_or_id: str) -> None:
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
) -> None:
    """The feed of all changes after --since: what an alerting job polls."""
    if format not in ("table", "jsonl"):
        raise typer.BadParameter("--format must be table or jsonl")
    asyncio.run(commands.changes(since, format, limit))


@app.command()
def reprocess(
    source: Annotated[str | None, typer.Option(help="Only this source (anac, ted, ...).")] = None,
) -> None:
    """Rebuild tenders from the stored raw publications with the current mapping."""
    asyncio.run(commands.reprocess(source))


@feeds_app.command("add")
def feeds_add(
    source: str,
    format: FormatOption = None,
    interval: Annotated[int, typer.Option(help="Seconds between ingests.")] = 3600,
    encoding: EncodingOption = None,
) -> None:
    """Register SOURCE to be ingested every INTERVAL seconds."""
    asyncio.run(commands.feeds_add(source, format, interval, encoding))


@feeds_app.command("list")
def feeds_list() -> None:
    asyncio.run(commands.feeds_list())


@feeds_app.command("remove")
def feeds_remove(source_or_id: str) -> None:
    asyncio.run(commands.feeds_remove(source_or_id))


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    insecure: Annotated[
        bool,
        typer.Option(help="Serve without API_TOKENS on a non-loopback address (no auth)."),
    ] = False,
) -> None:
    """Serve the HTTP API (tenders, changes, ingest jobs, /healthz, /metrics) with uvicorn.
    Clients need a token from API_TOKENS; without any, only on a loopback address."""
    from src.cli.serve_api import serve

    serve(host, port, insecure=insecure)


@app.command("api-token")
def api_token(
    name: Annotated[str, typer.Argument(help="Who holds it: shown in logs and run rows.")],
    scope: Annotated[
        str,
        typer.Option(
            help="Comma-separated: read (tenders, changes, jobs), write (queue ingests), metrics."
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
def db_upgrade(revision: str = "head") -> None:
    """Bring the database schema to REVISION (default: the latest)."""
    asyncio.run(commands.db_upgrade(revision))


@db_app.command("current")
def db_current() -> None:
    asyncio.run(commands.db_current())


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Option("--message", "-m")]) -> None:
    """Write a new migration from the difference between the models and the database."""
    asyncio.run(commands.db_revision(message))


def main() -> None:
    try:
        app()
    except ConfigurationError as error:
        typer.echo(f"error: {error}", err=True)
        raise SystemExit(2) from None
