"""The options of `tenders watch add` and how they become a `WatchSpec`: a list option may
be repeated or given as a comma list, and every problem is one line naming its option."""

from __future__ import annotations

import sys
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError

from src.cli.errors import EXIT_USAGE
from src.domain.alerts.schemas import EVENT_KINDS, WatchSpec
from src.domain.tender.schemas import TENDER_STATUSES, TRACKED_FIELDS

# Options of `watch add`; a list option may be repeated or given as a comma list.
Name = Annotated[str, typer.Argument(help="The watch's name (unique).")]
Cpv = Annotated[list[str] | None, typer.Option(help="CPV code or prefix: 45, 4521.", metavar="CPV")]
Nuts = Annotated[
    list[str] | None,
    typer.Option(help="NUTS code or prefix of the place of performance: IT, ITC4.", metavar="NUTS"),
]
Buyer = Annotated[list[str] | None, typer.Option(help="A buyer's id.", metavar="ID")]
BuyerWords = Annotated[
    str | None, typer.Option(help="Words of the buyer's name (all of them).", metavar="WORDS")
]
Words = Annotated[
    str | None,
    typer.Option(help="Words of the title or description (all of them).", metavar="WORDS"),
]
AmountMin = Annotated[
    str | None, typer.Option(help="Lowest amount (the lot's value).", metavar="AMOUNT")
]
AmountMax = Annotated[str | None, typer.Option(help="Highest amount.", metavar="AMOUNT")]
Source = Annotated[
    list[str] | None, typer.Option(help="Source: anac, ted, ocds:<prefix>.", metavar="SOURCE")
]
Status = Annotated[
    list[str] | None,
    typer.Option(help="OCDS status: " + ", ".join(sorted(TENDER_STATUSES)), metavar="STATUS"),
]
Events = Annotated[
    list[str] | None,
    typer.Option(
        help="Events to send: " + ", ".join(EVENT_KINDS) + " (default: new,changed).",
        metavar="EVENTS",
    ),
]
Fields = Annotated[
    list[str] | None,
    typer.Option(
        help="Fields whose change counts as `changed` (default: all): " + ", ".join(TRACKED_FIELDS),
        metavar="FIELDS",
    ),
]
DeadlineDays = Annotated[
    int, typer.Option(help="deadline_near: this many days before the deadline.", metavar="N")
]
Webhook = Annotated[
    str | None, typer.Option(help="POST the events to this http(s) URL.", metavar="URL")
]
Email = Annotated[str | None, typer.Option(help="Email the events here.", metavar="ADDRESS")]
Digest = Annotated[str, typer.Option(help="Email: immediate, hourly or daily.", metavar="DIGEST")]
Format = Annotated[str, typer.Option("--format", "-f", help="table or jsonl", metavar="FORMAT")]
WatchName = Annotated[str, typer.Argument(help="The watch's name or id.")]

# The option each field of a WatchSpec comes from, to name it in an error.
OPTION_OF = {
    "name": "NAME",
    "cpv": "--cpv",
    "nuts": "--nuts",
    "buyer_ids": "--buyer",
    "buyer_words": "--buyer-words",
    "words": "--words",
    "amount_min": "--amount-min",
    "amount_max": "--amount-max",
    "sources": "--source",
    "statuses": "--status",
    "events": "--events",
    "fields": "--fields",
    "deadline_days": "--deadline-days",
    "webhook_url": "--webhook",
    "email": "--email",
    "digest": "--digest",
}
NO_TARGET = "give one target: --webhook URL or --email ADDRESS"


def option_items(values: list[str] | None) -> list[str]:
    """A repeated option's values, comma lists split."""
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def _problems(error: ValidationError) -> list[str]:
    """One line per problem, naming the option at fault."""
    lines = []
    for problem in error.errors(include_url=False):
        location = problem["loc"]
        message = str(problem["msg"]).removeprefix("Value error, ")
        if not location:
            lines.append(message)
            continue
        option = OPTION_OF.get(str(location[0]), str(location[0]))
        given = f" {problem['input']!r}" if len(location) > 1 else ""
        lines.append(f"{option}{given}: {message}")
    return lines


def _refuse(lines: list[str]) -> NoReturn:
    for line in lines:
        sys.stderr.write(f"error: {line}\n")
    raise SystemExit(EXIT_USAGE)


def watch_spec(values: dict[str, Any]) -> WatchSpec:
    """The watch the options describe, or every problem with them (exit 2)."""
    problems = [NO_TARGET] if (values["webhook_url"] is None) == (values["email"] is None) else []
    given = {key: value for key, value in values.items() if value not in (None, [])}
    try:
        spec = WatchSpec.model_validate(given)
    except ValidationError as error:
        _refuse(problems + [line for line in _problems(error) if "target" not in line])
    if problems:
        _refuse(problems)
    return spec
