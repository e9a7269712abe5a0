"""Every option and argument of every command says what it is for; flags show no type."""

from __future__ import annotations

from collections.abc import Iterator

import typer.core
import typer.main
from typer import _click

from src.cli.main import app


def commands(
    command: _click.Command, path: str = "tenders"
) -> Iterator[tuple[str, _click.Command]]:
    yield path, command
    if isinstance(command, typer.core.TyperGroup):
        for name, sub in command.commands.items():
            yield from commands(sub, f"{path} {name}")


def test_every_parameter_has_help() -> None:
    missing = [
        f"{path} {param.name}"
        for path, command in commands(typer.main.get_command(app))
        for param in command.params
        if isinstance(param, typer.core.TyperOption | typer.core.TyperArgument)
        and not getattr(param, "help", None)
    ]
    assert missing == []


def test_every_command_has_help() -> None:
    missing = [path for path, command in commands(typer.main.get_command(app)) if not command.help]
    assert missing == []
