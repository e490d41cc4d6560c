"""The ``crossomni`` command: the builder's commands at the top level, ``eval`` and ``train`` as groups.

Nothing imports this module; it only composes the typer apps of ``builder.cli``,
``evaluation.cli`` and ``training.cli`` (``[project.scripts] crossomni``, or ``python -m crossomni_cli``).
``eval``, ``train``, ``view`` and ``lmms-tasks`` are imported only when one of them runs or shows its
help: ``crossomni --help`` lists them from ``LAZY_COMMANDS`` (a test holds each summary equal to the
command's own).

Errors with a known cause (a bad value, a missing file, an unreachable Hub, a missing extra) are
printed as one short ``error:`` line and exit 1; usage errors exit 2; Ctrl-C prints one line (``interrupted;
rerun the same command to resume`` for the resumable commands) and exits 130. The traceback is shown only
with ``--debug`` or ``CROSSOMNI_DEBUG=1``.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from builder.cli import app as builder_app

if TYPE_CHECKING:  # typer ships its own click; importing the standalone one would double start-up
    from typer._click import Command, Context, HelpFormatter

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


@dataclass(frozen=True)
class LazyCommand:
    """A command of the root imported only when it is used."""

    target: str  # "module:attribute": a typer app (mounted as a group) or a command function
    summary: str  # the root's command list shows this (equal to the command's own short help)


LAZY_COMMANDS: dict[str, LazyCommand] = {
    "lmms-tasks": LazyCommand(
        "evaluation.lmms_tasks.cli:lmms_tasks",
        "Print the lmms-eval task folder for `lmms-eval --include_path` (media root: CROSSOMNI_MEDIA_ROOT).",
    ),
    # `crossomni view RUN` beside `crossomni review RELEASE` (also `crossomni eval view`)
    "view": LazyCommand(
        "evaluation.cli:view",
        "Look at a run in a local web page: per item the clip, question, options, output, letter, verdict.",
    ),
    "eval": LazyCommand(
        "evaluation.cli:app",
        "Run omni models on CrossOmni with default, CoT or in-context prompting, score them with crossomni_acc "
        "and report like the paper.",
    ),
    "train": LazyCommand("training.cli:app", "LoRA SFT and GRPO on CrossOmni (paper §4.2, B.2)."),
}


def load_command(name: str, lazy: LazyCommand) -> Command:
    """Import ``lazy.target`` and turn it into the click command ``name`` (a typer app becomes a group)."""
    module, _, attribute = lazy.target.partition(":")
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer(rich_markup_mode=None)  # as the root: plain help that wraps
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name, cls=FullHelpGroup)
    else:
        holder.command(name)(target)
    return typer.main.get_group(holder).commands[name]


class FullHelpGroup(TyperGroup):
    """A command group whose command list shows each command's whole first paragraph, wrapped, never cut,
    and which imports the commands of ``lazy`` only when they are used."""

    lazy: dict[str, LazyCommand] = {}

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *self.lazy]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in self.lazy:
            return load_command(cmd_name, self.lazy[cmd_name])
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy:
                rows.append((name, self.lazy[name].summary))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


# What Ctrl-C leaves behind, per command (the line printed before exit status 130).
RESUMABLE = "rerun the same command to resume"
INTERRUPTED: dict[str, str] = {
    "build": RESUMABLE,  # every stage logs each finished item
    "eval": RESUMABLE,  # each scored item is on disk
    "media": RESUMABLE,  # clips already written are kept
    "train": "the adapter was not saved; rerun the same command to train again",
}
INTERRUPTED_STATUS = 130  # 128 + SIGINT, what shells report


class RootGroup(FullHelpGroup):
    """The ``crossomni`` group: the builder's commands, then the lazily imported ones."""

    lazy = LAZY_COMMANDS

    def invoke(self, ctx: Context) -> Any:
        """Run the command; Ctrl-C ends it with one line saying what to do next, and status 130."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            if os.environ.get(DEBUG_ENV) == "1":
                raise
            what = INTERRUPTED.get(ctx.invoked_subcommand or "", "rerun the same command to start again")
            typer.echo(f"\ninterrupted; {what}", err=True)
            raise typer.Exit(INTERRUPTED_STATUS) from None


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
    cls=RootGroup,
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

if __name__ == "__main__":
    app(prog_name="crossomni")
