"""``crossomni eval``: run an omni model on CrossOmni, score it, report like the paper; ``compare`` runs."""

import json
from typing import Annotated, Any

import typer

import crossomni

app = typer.Typer(
    help=(
        "Run omni models on CrossOmni with default, CoT or in-context prompting, score them with crossomni_acc "
        "and report like the paper. `crossomni eval --model M --dataset D --out runs/NAME` runs; "
        "`crossomni eval compare runs/A runs/B` compares."
    ),
    no_args_is_help=True,
    invoke_without_command=True,
)

MCQ_HELP = (
    "Generic multiple-choice adapter for other omni sets: FIELD=COLUMN pairs, e.g. "
    "'id=qid,question=question,options=candidates,answer=answer,video=video_path,category=task'. "
    "options may list several columns joined by '|'; answer may be a letter, a 0-based index or the option text."
)


# What `crossomni eval --backend` runs on, and what each needs. The builder's `scripted` backend answers only the
# sample build's requests from its spec: it cannot answer a benchmark question, so it is not offered here.
EVAL_BACKENDS: dict[str, str] = {
    "transformers": "a local model folder or Hub id, CPU or GPU",
    "vllm": "GPU, pip install 'crossomni[vllm]'",
    "openai": "an OpenAI-compatible server: --backend-option base_url=URL",
    "ray": "engines across a Ray cluster: --backend-option engine=vllm",
    "replay": "recorded answers: --backend-option path=FILE.jsonl",
}
TRY_OFFLINE = "no model downloaded yet? `crossomni tiny-model --out tiny-omni`, then --model tiny-omni"


def check_backend(backend: str, options: dict[str, Any]) -> None:
    """A usage error for a backend eval cannot run on (listing those it can), or replay without its recording."""
    if backend not in EVAL_BACKENDS and ":" not in backend:  # "package.module:Class" is a user's own backend
        valid = "; ".join(f"{name} ({need})" for name, need in EVAL_BACKENDS.items())
        message = f"{backend!r} cannot run an evaluation; use {valid}; {TRY_OFFLINE}"
        raise typer.BadParameter(message, param_hint="--backend")
    if backend == "replay" and "path" not in options:
        raise typer.BadParameter("replay needs the recording: --backend-option path=FILE.jsonl", param_hint="--backend")


def check_choice(option: str, value: str, valid: tuple[str, ...] | list[str]) -> None:
    """A usage error listing the valid names when ``value`` is not one of them."""
    if value not in valid:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(valid)}", param_hint=option)


def silence_progress_bars() -> None:
    """``--quiet``: also the libraries' bars (weight loading, dataset preparation and media resolving)."""
    import datasets
    import huggingface_hub
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    huggingface_hub.utils.disable_progress_bars()


def _print_baselines(dataset: str | None, split: str, config: str) -> None:
    """``--baselines``: what reading alone scores on a split, per task (%), as a table."""
    if not dataset:
        raise typer.BadParameter("--baselines needs --dataset")
    from evaluation.baselines import dataset_baselines

    result = dataset_baselines(dataset, split, config)
    names = list(result["accuracy"])
    typer.echo("| task | n | " + " | ".join(names) + " |")
    typer.echo("|---|---:|" + "---:|" * len(names))
    for task in [*result["n"], "overall"]:
        n = result["n"].get(task, sum(result["n"].values()))
        cells = " | ".join(f"{100 * result['accuracy'][name][task]:.1f}" for name in names)
        typer.echo(f"| {task} | {n} | {cells} |")


def parse_mcq_columns(spec: str) -> Any:
    """``FIELD=COLUMN,...`` → ``MCQColumns`` (unknown fields are an error)."""
    from dataclasses import fields

    from evaluation.items import MCQColumns

    known = {f.name for f in fields(MCQColumns)}
    values: dict[str, Any] = {}
    for pair in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, column = pair.partition("=")
        if not sep or name not in known:
            raise typer.BadParameter(f"{pair!r}: expected FIELD=COLUMN with FIELD in {', '.join(sorted(known))}")
        values[name] = column.split("|") if name == "options" and "|" in column else (column or None)
    return MCQColumns(**values)


@app.callback()
def evaluate_model(
    ctx: typer.Context,
    model: str = typer.Option(None, help="Model id or local folder, e.g. Qwen/Qwen2.5-Omni-7B."),
    adapter: str = typer.Option(
        None, help="PEFT (LoRA) adapter folder or Hub id to load on --model (transformers or vllm backend)."
    ),
    dataset: str = typer.Option(None, help="Folder made by `crossomni export`, or a Hub dataset id."),
    config: str = typer.Option("all", help="Dataset config: all, single, cross or one task name."),
    split: str = typer.Option("test", help="Split to evaluate."),
    prompting: str = typer.Option(None, help="default | cot | icl (default: the adapter's template, else default)."),
    prompt_version: str = typer.Option(None, help="Version of the prompt templates (evaluation/prompts; v1)."),
    backend: str = typer.Option(
        "transformers", help=f"{' | '.join(EVAL_BACKENDS)} (or package.module:Class); see --backend-option."
    ),
    out: str = typer.Option(None, help="Run folder (predictions.jsonl, metrics.json, report.md, plots/)."),
    tvqa_root: str = typer.Option(None, help="TVQA root for reference-mode exports (media paths are relative)."),
    inputs: str = typer.Option("full", help="full (frames + audio track) | no-audio | audio-only | text-only."),
    batch_size: int = typer.Option(4, help="Rows per padded generate batch (transformers backend)."),
    chunk_size: int = typer.Option(
        None, help="Items per backend call (default: --batch-size for transformers, 512 for vllm and the rest)."
    ),
    max_new_tokens: int = typer.Option(None, help="Generation cap (default 64, or 1024 for cot/icl)."),
    temperature: float = typer.Option(0.0, help="0 = greedy (default)."),
    seed: int = typer.Option(0, help="Sampling seed."),
    input_preset: str = typer.Option(
        None, help="Input preset of model_calls/presets.yaml (default: the adapter's, else the model family's)."
    ),
    allow_input_mismatch: bool = typer.Option(
        False, help="Evaluate an adapter on a preset, prompt or system prompt other than those it was trained on."
    ),
    fps: float = typer.Option(None, help="Video frames per second (default: the input preset's)."),
    max_frames: int = typer.Option(None, help="Most frames per clip."),
    min_pixels: int = typer.Option(None, help="Least pixels per frame after resizing."),
    max_pixels: int = typer.Option(None, help="Most pixels per frame after resizing."),
    system_prompt: str = typer.Option(None, help="Override the model family's system prompt ('' for none)."),
    limit: int = typer.Option(None, help="Evaluate only the first N items."),
    cache: str = typer.Option(None, help="sqlite response cache; a rerun answers from it."),
    backend_option: Annotated[
        list[str] | None,
        typer.Option(help="KEY=VALUE for the backend (JSON values), e.g. tensor_parallel_size=2, dtype=bfloat16."),
    ] = None,
    mcq_columns: str = typer.Option(None, help=MCQ_HELP),
    media_root: str = typer.Option(None, help="Folder that relative media paths of a generic MCQ set are under."),
    quiet: bool = typer.Option(False, help="No progress bar."),
    overwrite: bool = typer.Option(
        False,
        help="Discard a scored run with other settings in --out and start anew; or write into an --out folder that "
        "is not a run folder (its files are kept; never the dataset, model or media folders, or one holding them).",
    ),
    baselines: bool = typer.Option(
        False, "--baselines", help="Score the no-media baselines (reading only) on --dataset/--split; no model."
    ),
) -> None:
    """Evaluate a model; a rerun with the same --out skips finished items and retries failed ones."""
    if ctx.invoked_subcommand is not None:
        return
    if baselines:
        _print_baselines(dataset, split, config)
        return
    if not model or not out:
        raise typer.BadParameter("--model and --out are required to run an evaluation")
    from evaluation.prompting import PROMPT_MODES  # here, not at the top: `crossomni --help` stays light

    if prompting is not None:  # None: the adapter's recorded template, else default
        check_choice("--prompting", prompting, PROMPT_MODES)
    if not mcq_columns and config not in ("", "none", "None"):
        check_choice("--config", config, crossomni.CONFIG_NAMES)
    from evaluation.inputs import InputMismatchError
    from evaluation.report import headline
    from evaluation.runner import ADAPTER_BACKENDS, EvalConfig, EvalConfigError, run_eval

    if adapter and backend not in (*ADAPTER_BACKENDS, "ray"):
        raise typer.BadParameter(f"--adapter needs --backend {' or '.join(ADAPTER_BACKENDS)}, got {backend!r}")

    options: dict[str, Any] = {}
    for pair in backend_option or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"--backend-option {pair!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    check_backend(backend, options)
    try:
        cfg = EvalConfig(
            model=model,
            adapter=adapter or None,
            out=out,
            dataset=dataset,
            config=None if config in ("", "none", "None") else config,
            split=split,
            prompting=prompting,
            prompt_version=prompt_version,
            backend=backend,
            batch_size=batch_size,
            chunk_size=chunk_size,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=seed,
            limit=limit,
            tvqa_root=tvqa_root,
            media_root=media_root,
            inputs=inputs,
            fps=fps,
            max_frames=max_frames,
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            system_prompt=system_prompt,
            input_preset=input_preset,
            allow_input_mismatch=allow_input_mismatch,
            backend_options=options,
            cache=cache,
            mcq=parse_mcq_columns(mcq_columns) if mcq_columns else None,
            overwrite=overwrite,
        )
    except InputMismatchError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=2) from None
    except EvalConfigError as err:
        raise typer.BadParameter(str(err)) from None
    if cfg.resolved.base_mismatch:
        typer.echo(f"warning: {cfg.resolved.base_mismatch}", err=True)
    if quiet:
        silence_progress_bars()
    result = run_eval(cfg, progress=not quiet)
    typer.echo(
        f"{result.n_scored}/{result.n_items} scored, {result.n_pending} pending; {headline(result.metrics)}; "
        f"report: {result.out_dir / 'report.md'} (plots: crossomni eval report {result.out_dir})"
    )
    if result.n_pending:
        typer.echo(f"{result.n_pending} item(s) failed to generate (see errors.jsonl); rerun to retry them.")
        raise typer.Exit(code=2)


@app.command()
def compare(
    runs: Annotated[list[str], typer.Argument(help="Run folders of `crossomni eval`; the first is the Δ baseline.")],
    paper: Annotated[
        list[str] | None,
        typer.Option(help="Published rows to add, MODEL:METHOD, e.g. Qwen2.5-Omni-7B:default or Average:icl."),
    ] = None,
    out: str = typer.Option(None, help="Folder for compare.md and the plots."),
    allow_different_items: bool = typer.Option(
        False, help="Compare runs that scored different items (the table says so; a Δ only where items agree)."
    ),
) -> None:
    """Put several runs (and paper rows) side by side with differences; runs must have scored the same items."""
    from evaluation.compare import DifferentItemsError, compare_runs

    try:
        text = compare_runs(runs, out_dir=out, paper=paper or (), allow_different_items=allow_different_items)
    except DifferentItemsError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(text)


@app.command()
def report(
    run: str = typer.Argument(..., help="A run folder."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Also draw plots/per_task.png, fixed_groups.png."),
) -> None:
    """Rewrite report.md and draw the plots of a run folder from its files (no model needed)."""
    from evaluation.report import write_run_report

    typer.echo(f"written {write_run_report(run, plots=plots)}")


@app.command()
def view(
    run: str = typer.Argument(..., help="A run folder of `crossomni eval`."),
    dataset: str = typer.Option(None, help="Dataset to read questions and clips from (default: the run's)."),
    tvqa_root: str = typer.Option(None, help="TVQA root for reference-mode exports (clip paths are relative)."),
    media_root: str = typer.Option(None, help="Folder that relative media paths of a generic MCQ set are under."),
    host: str = typer.Option(
        "127.0.0.1", help="Address to bind: loopback by default; any other address needs the token of the printed link."
    ),
    port: int = typer.Option(8766, min=0, max=65535, help="Port (0: any free port)."),
) -> None:
    """Look at a run in a local web page: per item the clip, question, options, output, letter, verdict."""
    from evaluation.viewer import ViewerApp
    from evaluation.web.server import serve

    try:
        page = ViewerApp(run, dataset=dataset, tvqa_root=tvqa_root, media_root=media_root)
    except (FileNotFoundError, ValueError) as err:
        raise typer.BadParameter(str(err)) from None
    typer.echo(page.state()["summary"])
    serve(page, host, port, announce=typer.echo)
