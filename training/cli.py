"""``crossomni train``: LoRA SFT and GRPO recipes (trl), adapters saved with a model card and optionally pushed.

Options after the known ones are handed to trl's ``TrlParser`` and override the recipe YAML,
e.g. ``crossomni train sft --config sft_qwen2.5-omni-3b --learning_rate 2e-5 --output_dir runs/x``
(trl's own spelling with underscores: ``--tvqa_root``, ``--max_steps``; ``--tvqa-root`` works too).
``--config`` takes a YAML path or the name of a packaged recipe. Without a CUDA device the run
falls back to CPU in float32 (``--bf16 false --use_cpu true --dtype float32``) and says so.
"""

import logging
import time
from pathlib import Path
from typing import Annotated

import typer

from model_calls.sources import check_source
from model_calls.store import load_yaml

RECIPES_DIR = Path(__file__).resolve().parent / "configs"
CPU_OVERRIDES = {"bf16": "false", "fp16": "false", "use_cpu": "true", "dtype": "float32"}

app = typer.Typer(
    help=(
        "LoRA SFT and GRPO on CrossOmni (paper §4.2, B.2). --config takes a recipe YAML or a packaged recipe "
        "name (sft_qwen2.5-omni-3b, ...). Any other option goes to trl's TrlParser and overrides the recipe, "
        "spelt with underscores or dashes (--tvqa_root or --tvqa-root, --max_steps, --learning_rate, "
        "--output_dir). Without CUDA the run falls back to CPU in float32 and says so."
    ),
    no_args_is_help=True,
)

PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
PushOption = Annotated[
    str | None, typer.Option(help="Push the adapter and its model card to this Hub repo (ORG/NAME) at the end.")
]


def recipe_names() -> list[str]:
    return sorted(path.stem for path in RECIPES_DIR.glob("*.yaml"))


def resolve_recipe(config: str) -> Path:
    """A recipe YAML path, or the name of a packaged recipe (``sft_qwen2.5-omni-3b``), from any folder."""
    path = Path(config).expanduser()
    if path.is_file():
        return path
    name = config.removesuffix(".yaml").removesuffix(".yml")
    packaged = RECIPES_DIR / f"{name}.yaml"
    if packaged.is_file():
        return packaged
    raise typer.BadParameter(f"{config!r}: no such file or packaged recipe; recipes: {', '.join(recipe_names())}")


def trl_spelling(arg: str) -> str:
    """``--tvqa-root=x`` → ``--tvqa_root=x``: trl's field names use underscores (both spellings are accepted)."""
    if not arg.startswith("--"):
        return arg
    name, sep, value = arg[2:].partition("=")
    return f"--{name.replace('-', '_')}{sep}{value}"


def _given(args: list[str], name: str) -> bool:
    return any(arg == f"--{name}" or arg.startswith(f"--{name}=") for arg in args)


def cpu_fallback(args: list[str], cuda: bool, recipe: dict | None = None) -> list[str]:
    """Without CUDA, the recipe's bf16 GPU settings become a float32 CPU run (options the user gave win, and a
    recipe already set for the CPU, like the tiny try-out's, is left alone)."""
    if cuda:
        return args
    recipe = recipe or {}
    overrides = [
        f"--{key}={value}"
        for key, value in CPU_OVERRIDES.items()
        if not _given(args, key) and str(recipe.get(key, "")).lower() != value
    ]
    if overrides:
        typer.echo(f"note: no CUDA device, training on CPU in float32 ({' '.join(overrides)})", err=True)
    return [*args, *overrides]


def _trl_args(config: str, extra: list[str], push_to_hub: str | None, **flags: str | None) -> list[str]:
    import torch

    path = resolve_recipe(config)
    args = ["--config", str(path), *map(trl_spelling, extra)]
    if push_to_hub:
        args += ["--adapter_repo_id", push_to_hub]
    for name, value in flags.items():
        if value is not None:
            args += [f"--{name}", value]
    recipe = load_yaml(path.read_text(encoding="utf-8"))
    return cpu_fallback(args, torch.cuda.is_available(), recipe if isinstance(recipe, dict) else None)


def check_sft_adapter(adapter: str | None) -> None:
    """GRPO continues from an SFT adapter: a missing one is a one-line error, not peft's traceback."""
    if not adapter:
        return
    hint = "train it first (`crossomni train sft`) or pass --sft-adapter PATH_OR_HUB_ID"
    try:
        check_source(adapter, "--sft-adapter")
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err}; {hint}") from None
    if Path(adapter).is_dir() and not (Path(adapter) / "adapter_config.json").is_file():
        raise FileNotFoundError(f"--sft-adapter {adapter}: no adapter_config.json there; {hint}")


@app.command(context_settings=PASS_THROUGH)
def sft(
    ctx: typer.Context,
    config: Annotated[str, typer.Option(help="Recipe YAML or packaged recipe name, e.g. sft_qwen2.5-omni-3b.")],
    push_to_hub: PushOption = None,
) -> None:
    """LoRA SFT of the Qwen2.5-Omni thinker on rationale-then-answer targets (`--supervision answer`: w/o CoT)."""
    from training import sft as recipe
    from training.publish import saved_summary

    logging.basicConfig(level=logging.INFO)
    started = time.time()
    folder = recipe.main(*recipe.parse(_trl_args(config, list(ctx.args), push_to_hub)))
    typer.echo(saved_summary(folder, since=started))


@app.command(context_settings=PASS_THROUGH)
def grpo(
    ctx: typer.Context,
    config: Annotated[str, typer.Option(help="Recipe YAML or packaged recipe name, e.g. grpo_qwen2.5-omni-3b.")],
    sft_adapter: Annotated[str | None, typer.Option(help="SFT adapter (folder or Hub id) GRPO continues from.")] = None,
    push_to_hub: PushOption = None,
) -> None:
    """GRPO from the SFT adapter with format, accuracy and LLM-judge rewards (`--thinking_rewards false`: w/o T-R)."""
    from training import grpo as recipe
    from training.publish import saved_summary

    logging.basicConfig(level=logging.INFO)
    script_args, training_args, model_args = recipe.parse(
        _trl_args(config, list(ctx.args), push_to_hub, sft_adapter=sft_adapter)
    )
    check_sft_adapter(script_args.sft_adapter)
    started = time.time()
    folder = recipe.main(script_args, training_args, model_args)
    typer.echo(saved_summary(folder, since=started))
