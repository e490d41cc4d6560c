"""`crossomni train` (to be filled by the training work)."""

import typer

app = typer.Typer(help="LoRA SFT and GRPO on CrossOmni.", no_args_is_help=True)
