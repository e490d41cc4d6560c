"""The ``crossomni`` command: the builder's commands at the top level, ``eval`` and ``train`` as groups.

Nothing imports this module; it only composes the typer apps of ``builder.cli``,
``evaluation.cli`` and ``training.cli`` (``[project.scripts] crossomni``, or ``python -m crossomni_cli``).

Errors with a known cause (a bad value, a missing file, an unreachable Hub, a missing extra) are
printed as one short ``error:`` line and exit 1; usage errors exit 2. The traceback is shown only
with ``--debug`` or ``CROSSOMNI_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from builder.cli import app as builder_app
from evaluation.cli import app as eval_app
from evaluation.cli import view
from evaluation.lmms_tasks.cli import lmms_tasks
from training.cli import app as train_app

if TYPE_CHECKING:  # typer ships its own click; importing the standalone one would double start-up
    from typer._click import Context, HelpFormatter

DEBUG_ENV = "CROSSOMNI_DEBUG"
# Exceptions that come from the user's input or machine, not from a bug in this project.
KNOWN_CAUSES: tuple[type[BaseException], ...] = (ValueError, OSError, ImportError)
MAX_MESSAGE_LINES = 3


def short_message(err: BaseException) -> str:
    """The first lines of an exception's message, without blank lines (at most ``MAX_MESSAGE_LINES``)."""
    lines = [line.rstrip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
    if len(lines) > MAX_MESSAGE_LINES:
        lines = [*lines[:MAX_MESSAGE_LINES], "…"]
    return "\n".join(lines)


class FullHelpGroup(TyperGroup):
    """A command group whose command list shows each command's whole first paragraph, wrapped, never cut."""

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class CrossOmniApp(typer.Typer):
    """A typer app whose known-cause errors end in a short message instead of a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except KNOWN_CAUSES as err:
            if os.environ.get(DEBUG_ENV) == "1":
                raise
            typer.echo(f"error: {short_message(err)}", err=True)
            typer.echo("(run with --debug for the traceback)", err=True)
            sys.exit(1)


app = CrossOmniApp(
    cls=FullHelpGroup,
    help="CrossOmni: cross-modal coreference for omni-modal LLMs (arXiv 2604.05522).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: wraps long cells (rich cut them at 80 columns) and starts faster
)


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks (also CROSSOMNI_DEBUG=1).")) -> None:
    """CrossOmni: build, load, evaluate and train on cross-modal coreference (arXiv 2604.05522)."""
    if debug:
        os.environ[DEBUG_ENV] = "1"


app.registered_commands.extend(builder_app.registered_commands)
app.registered_groups.extend(builder_app.registered_groups)
app.command("lmms-tasks")(lmms_tasks)
app.add_typer(eval_app, name="eval", cls=FullHelpGroup)
app.command("view")(view)  # `crossomni view RUN` beside `crossomni review RELEASE` (also `crossomni eval view`)
app.add_typer(train_app, name="train", cls=FullHelpGroup)

if __name__ == "__main__":
    app(prog_name="crossomni")
