"""Help that costs nothing: `--help` (of any command) must not start the embedded servers,
and flags read as flags."""

from __future__ import annotations

from typing import Any

import typer.core
from typer import _click

HELP_ONLY = "tenders.help_only"


def _asks_help(command: Any, args: list[str]) -> bool:
    """Whether `command args` only prints help: `--help` before any `--`, or a group of
    commands named without one (it shows its help)."""
    before_separator = args[: args.index("--")] if "--" in args else args
    if "--help" in before_separator:
        return True
    return isinstance(command, typer.core.TyperGroup) and not args


class TendersGroup(typer.core.TyperGroup):
    """Notes, before the group's callback runs (where servers are started), whether the
    command line asks only for help: the callback reads it from `ctx.meta`."""

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        ctx.meta[HELP_ONLY] = _asks_help(command, rest)
        return name, command, rest


def _flag_type(self: typer.core.TyperOption, ctx: _click.Context) -> str | None:
    """A flag takes no value: no `<bool>` beside it in the help."""
    if self.is_flag and self.metavar is None:
        return None
    return _typed(self, ctx)


_typed = typer.core.TyperOption.display_type_rich


def quiet_flag_types() -> None:
    """Typer shows a flag's type (`<bool>`) as if it took a value; it takes none."""
    typer.core.TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]
