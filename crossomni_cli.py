"""The ``crossomni`` command: the builder's commands at the top level, ``eval`` and ``train`` as groups.

Nothing imports this module; it only composes the typer apps of ``builder.cli``,
``evaluation.cli`` and ``training.cli`` (``[project.scripts] crossomni``, or ``python -m crossomni_cli``).
"""

from __future__ import annotations

import typer

from builder.cli import app as builder_app
from evaluation.cli import app as eval_app
from training.cli import app as train_app

app = typer.Typer(
    help="CrossOmni: cross-modal coreference for omni-modal LLMs (arXiv 2604.05522).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rendering it with rich costs more than the whole command's imports
)
app.registered_commands.extend(builder_app.registered_commands)
app.registered_groups.extend(builder_app.registered_groups)
app.add_typer(eval_app, name="eval")
app.add_typer(train_app, name="train")

if __name__ == "__main__":
    app()
