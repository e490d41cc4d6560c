"""``crossomni train``: LoRA SFT and GRPO recipes (trl), adapters saved with a model card and optionally pushed.

Options after the known ones are handed to trl's ``TrlParser`` and override the recipe YAML,
e.g. ``crossomni train sft --config ... --learning_rate 2e-5 --output_dir runs/x``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="LoRA SFT and GRPO on CrossOmni (paper §4.2, B.2).", no_args_is_help=True)

PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
PushOption = Annotated[
    str | None, typer.Option(help="Push the adapter and its model card to this Hub repo (ORG/NAME) at the end.")
]


def _trl_args(config: Path, extra: list[str], push_to_hub: str | None, **flags: str | None) -> list[str]:
    if not config.is_file():
        raise typer.BadParameter(f"recipe {config} not found", param_hint="--config")
    args = ["--config", str(config), *extra]
    if push_to_hub:
        args += ["--adapter_repo_id", push_to_hub]
    for name, value in flags.items():
        if value is not None:
            args += [f"--{name}", value]
    return args


@app.command(context_settings=PASS_THROUGH)
def sft(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option(help="Recipe YAML, e.g. training/configs/sft_qwen2.5-omni-3b.yaml.")],
    push_to_hub: PushOption = None,
) -> None:
    """LoRA SFT of the Qwen2.5-Omni thinker on rationale-then-answer targets (`--supervision answer`: w/o CoT)."""
    import logging

    from training import sft as recipe

    logging.basicConfig(level=logging.INFO)
    folder = recipe.main(*recipe.parse(_trl_args(config, list(ctx.args), push_to_hub)))
    typer.echo(f"adapter and model card saved to {folder}")


@app.command(context_settings=PASS_THROUGH)
def grpo(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option(help="Recipe YAML, e.g. training/configs/grpo_qwen2.5-omni-3b.yaml.")],
    sft_adapter: Annotated[str | None, typer.Option(help="SFT adapter (folder or Hub id) GRPO continues from.")] = None,
    push_to_hub: PushOption = None,
) -> None:
    """GRPO from the SFT adapter with format, accuracy and LLM-judge rewards (`--thinking_rewards false`: w/o T-R)."""
    import logging

    from training import grpo as recipe

    logging.basicConfig(level=logging.INFO)
    folder = recipe.main(*recipe.parse(_trl_args(config, list(ctx.args), push_to_hub, sft_adapter=sft_adapter)))
    typer.echo(f"adapter and model card saved to {folder}")
