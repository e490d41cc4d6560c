"""`crossomni eval` (to be filled by the evaluation work)."""

import typer

app = typer.Typer(help="Run omni models on CrossOmni and report.", no_args_is_help=True)
