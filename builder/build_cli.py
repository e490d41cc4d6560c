"""The ``crossomni build``, ``inspect`` and ``media`` commands (mounted through ``builder/cli.py``)."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from builder.config import TvqaLayout


def _options(pairs: list[str]) -> dict[str, object]:
    """``-o KEY=VALUE`` pairs, each VALUE read as YAML (``32``, ``true``, ``{a: 1}``; quote a string YAML
    would misread); an invalid one is a usage error naming its key."""
    from model_calls.redaction import shown
    from model_calls.store import YamlError, load_yaml

    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {shown(pair)}", param_hint="--backend-option")
        try:
            options[key.strip().replace("-", "_")] = load_yaml(value, f"-o {key.strip()}")
        except YamlError as err:
            raise typer.BadParameter(
                f"{err} (the value is read as YAML: quote it, e.g. {key.strip()}='...')", param_hint="--backend-option"
            ) from None
    return options


def _layout(pairs: list[str], layout_file: Path | None = None) -> "TvqaLayout":
    from dataclasses import fields

    from builder.config import TvqaLayout
    from builder.tvqa import MediaLayout

    names = {f.name for f in fields(TvqaLayout)} - {"file"}
    values: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in names:
            raise typer.BadParameter(
                f"expected one of {', '.join(sorted(names))} =PATTERN, got {pair[:80]!r}", param_hint="--layout"
            )
        values[key] = value
    if layout_file is not None:
        try:
            values["file"] = MediaLayout.load(layout_file)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--layout-file") from None
    try:
        return TvqaLayout(**values)
    except ValueError as err:  # a LayoutError names its key: "frames_fps: must be > 0 ..."
        raise typer.BadParameter(str(err), param_hint="--layout") from None


def _shows(names: list[str] | None) -> tuple[str, ...]:
    """Show prefixes for ``--show`` values (any spelling); an unknown one is an error naming the known."""
    from builder.tvqa import resolve_show

    try:
        return tuple(resolve_show(name) for name in names or ())
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--show") from None


LAYOUT_HELP = (
    "Where TVQA files are, as KEY=PATTERN with {vid_name} and {show} (show prefix: bbt, friends, met, grey, "
    "house, castle): qa_glob, subtitles (an .srt pattern or the preprocessed jsonl's path), video, frames, audio, "
    "frames_fps. Default: found (data/ or tvqa_qa_release/; tvqa_preprocessed_subtitles.jsonl or tvqa_subtitles/; "
    "videos/, frames_hq/<show>_frames/, audios/<show>/<show>_audios/ ...). Repeatable."
)
LAYOUT_FILE_HELP = "Layout YAML: defaults and per-show overrides (see builder/README.md)."
SHOW_HELP = "Only clips of this show (TVQA's spelling, the usual one or the clip prefix, e.g. met). Repeatable."


def _proportions(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    out = {}
    for part in text.split(","):
        task, sep, weight = part.partition("=")
        try:
            if not sep:
                raise ValueError
            out[task.strip()] = float(weight)
        except ValueError:
            raise typer.BadParameter(
                f"expected TASK=WEIGHT with a number, got {part!r}", param_hint="--task-proportions"
            ) from None
    return out


def empty_build_message(report: dict[str, Any]) -> str | None:
    """Why a build produced nothing (None when it produced something): counts and the top three reasons."""
    stages = report["stages"]
    if report["released"]:
        if report["release"]["train"] + report["release"]["test"] > 0:
            return None
        what = "the release is empty"
    elif stages and stages[-1]["outputs"] == 0:
        what = f"stage {stages[-1]['name']} kept nothing"
    else:
        return None
    counts = ", ".join(f"{s['name']} {s['outputs']}/{s['items_in']}" for s in stages)
    reasons = "; ".join(
        f"{r['stage']}: {r['reason']} × {r['count']} (e.g. {', '.join(r['examples'])})" for r in report["drops"][:3]
    )
    return f"{what} (kept/in per stage: {counts}); top reasons: {reasons or 'none recorded'}"


def build(
    tvqa_root: Annotated[
        Path | None,
        typer.Option(help="TVQA root: QA files, subtitles, videos/ or frames_hq/ + audio (found; see --layout)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Build folder: release/, report.json/.md, stages/, cache.sqlite.")] = Path(
        "build/crossomni"
    ),
    sample: Annotated[
        bool,
        typer.Option(
            "--sample",
            help="Build the embedded sample offline: generates its TVQA root (into --tvqa-root if given, "
            "else OUT/sample_tvqa) and answers from its recorded replies (replay backend).",
        ),
    ] = False,
    backend: Annotated[
        str | None,
        typer.Option(
            help="Model backend: vllm, openai, transformers, replay or scripted (default: vllm; replay with --sample)."
        ),
    ] = None,
    backend_option: Annotated[
        list[str] | None,
        typer.Option(
            "--backend-option",
            "-o",
            help="KEY=VALUE passed to the backend, e.g. base_url=http://host:8000/v1, concurrency=32, "
            "path=replies.jsonl (replay), tensor_parallel_size=4 (vllm). Repeatable.",
        ),
    ] = None,
    layout: Annotated[list[str] | None, typer.Option(help=LAYOUT_HELP)] = None,
    layout_file: Annotated[Path | None, typer.Option(help=LAYOUT_FILE_HELP)] = None,
    models: Annotated[
        Path | None, typer.Option(help="Models-per-role YAML (default: builder/models.yaml, the paper's models).")
    ] = None,
    shows: Annotated[list[str] | None, typer.Option("--show", help=SHOW_HELP)] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many clips (after --show and --shard).")
    ] = None,
    shard: Annotated[
        str, typer.Option(help="Build shard i of n (i/n): shards own whole episodes; merged shards concatenate.")
    ] = "0/1",
    qa: Annotated[
        str, typer.Option(help="QA generator: template (deterministic, verified by construction) or llm (the paper's).")
    ] = "template",
    seed: Annotated[int, typer.Option(help="Seed of the split, option order and referent choice.")] = 0,
    test_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Fraction of episodes in the test split.")
    ] = 0.5,
    task_proportions: Annotated[
        str | None,
        typer.Option(help="Target task mix per split, e.g. 'audio=1,vision=1,text_to_audio=2' (default: keep all)."),
    ] = None,
    per_task_per_clip: Annotated[int, typer.Option(min=1, help="Instances per task type per clip.")] = 1,
    frames_per_segment: Annotated[
        int, typer.Option(min=1, help="Frames sampled per subtitle segment for captions.")
    ] = 2,
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, help="Requests per backend call for every role (default: per role in the models YAML)."),
    ] = None,
    media_workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Processes for media work: muxing TVQA frame folders (default: one per CPU) and decoding the "
            "next batches' frames and audio while a batch is with the model (vllm, transformers, openai; "
            "default: half the CPUs). 0: all in the build's own process.",
        ),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            help="Response cache (sqlite; default OUT/cache.sqlite). Share it between builds to reuse replies."
        ),
    ] = None,
    record: Annotated[
        Path | None, typer.Option(help="Also write every model reply to this replay file (JSONL).")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Stop after this stage (e.g. preprocess: check the readers before any GPU hour)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    # shortcut audit and sample size
    clips: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="With --sample: generate this many distinct clips from --seed (scripted replies answer from "
            "the generated spec) instead of the shipped sample.",
        ),
    ] = None,
    max_shortcut_accuracy: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Fail the build when a no-media reader beats this on a target group of >= 20."
        ),
    ] = 0.40,
    blind_filter: Annotated[
        int,
        typer.Option(min=0, help="K > 0: drop instances the text-only model answers under K option orders."),
    ] = 0,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Build into an --out folder that is not a build folder (its files are kept, same-named ones "
            "replaced; never the TVQA root or a folder holding it)."
        ),
    ] = False,
) -> None:
    """Build a CrossOmni annotation release from TVQA: preprocess, caption, describe, biography, voice,
    align, qa, verify, split, rationale, release + report. Re-running resumes where it stopped."""
    from builder.config import BuildConfig, ModelsConfig, Shard
    from builder.sample import SAMPLE_NAME
    from builder.warm import STAGE_NAMES

    if until is not None and until not in STAGE_NAMES:
        raise typer.BadParameter(f"expected one of {', '.join(STAGE_NAMES)}, got {until!r}", param_hint="--until")

    options = _options(backend_option or [])
    # every setting read before the sample is generated or anything written: a bad one costs no work
    try:
        models_config, shard_config = ModelsConfig.load(models), Shard.parse(shard)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--models" if models else "--shard") from None
    layout_config, show_prefixes = _layout(layout or [], layout_file), _shows(shows)
    proportions = _proportions(task_proportions)
    spec = None
    sample_option = "--tvqa-root" if tvqa_root else "--out"
    if sample:
        from builder.sample.generate import sample_spec

        spec = sample_spec(clips, seed) if clips else None
        tvqa_root = tvqa_root or out / "sample_tvqa"  # generated there once the settings are checked
        if spec is not None:  # a generated sample has no recordings: its spec answers as the models
            backend = backend or "scripted"
            options.setdefault("spec_path", str(tvqa_root / "spec.yaml"))
    elif clips:
        raise typer.BadParameter("--clips needs --sample", param_hint="--clips")
    if tvqa_root is None:
        raise typer.BadParameter("pass --tvqa-root PATH (or --sample)", param_hint="--tvqa-root")
    if not sample and not tvqa_root.is_dir():
        raise typer.BadParameter(f"{tvqa_root} is not a folder", param_hint="--tvqa-root")
    try:
        config = BuildConfig(
            tvqa_root=tvqa_root,
            out=out,
            backend=backend or ("replay" if sample else "vllm"),
            backend_options=options,
            models=models_config,
            layout=layout_config,
            shows=show_prefixes,
            limit=limit,
            shard=shard_config,
            qa_generator=qa,
            seed=seed,
            test_fraction=test_fraction,
            task_proportions=proportions,
            per_task_per_clip=per_task_per_clip,
            frames_per_segment=frames_per_segment,
            batch_size=batch_size,
            media_workers=media_workers,
            cache_path=cache,
            progress=progress,
            name=SAMPLE_NAME if sample else "crossomni",
            blind_filter=blind_filter,
            max_shortcut_accuracy=max_shortcut_accuracy,
            overwrite=overwrite,
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    if sample:
        from builder.sample.generate import generate_sample_tvqa, write_spec
        from model_calls.outputs import claim_output_dir

        claim_output_dir(out, "build", overwrite=overwrite)  # before its TVQA root is generated inside OUT
        generate_sample_tvqa(tvqa_root, spec=spec, option=sample_option)
        if spec is not None:
            write_spec(spec, tvqa_root)
    from builder.warm import finished_report

    # nothing to do: answered from the finished build's report, without importing the stages
    report = None if (record or until) else finished_report(config)
    try:
        if report is None:
            from builder.audit import ShortcutAuditError
            from builder.pipeline import run_build

            try:
                report = run_build(config, record=record, until=until)
            except ShortcutAuditError as err:
                typer.echo(f"error: {err}", err=True)
                raise typer.Exit(code=1) from None
    except ValueError as err:
        from builder.tvqa.root import TvqaRootError

        if isinstance(err, TvqaRootError):
            raise typer.BadParameter(str(err), param_hint="--tvqa-root") from None
        if "built with other settings" not in str(err):
            raise
        raise typer.BadParameter(str(err), param_hint="--out") from None
    calls = report["model_calls"]
    if report["released"]:
        typer.echo(
            f"release: {config.release_dir} — {report['release']['train']} train / {report['release']['test']} test "
            f"instances over {report['release']['clips']} clips; {calls['backend_calls']} backend calls, "
            f"{calls['cache_hits']} cache hits; report: {config.out / 'report.md'}"
        )
    else:
        last = report["stages"][-1]
        typer.echo(
            f"stopped after {last['name']}: {last['outputs']} kept of {last['items_in']} "
            f"({config.stages_dir / (last['name'] + '.jsonl')}); report: {config.out / 'report.md'}"
        )
    problem = empty_build_message(report)
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(1)


def inspect(
    tvqa_root: Annotated[Path, typer.Option(help="The TVQA root to look at.")],
    layout: Annotated[list[str] | None, typer.Option(help=LAYOUT_HELP)] = None,
    layout_file: Annotated[Path | None, typer.Option(help=LAYOUT_FILE_HELP)] = None,
    shows: Annotated[list[str] | None, typer.Option("--show", help=SHOW_HELP)] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Look at the first N clips only.")] = None,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the report as JSON here (a file inspect wrote before is replaced)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Let --json replace a file inspect did not write.")] = False,
) -> None:
    """Say what a TVQA root holds (layouts found; per show: clips with subtitles, named speakers, frames,
    audio, video; usable) and why clips are unusable — in seconds, no model. Exits 1 when nothing is usable."""

    from builder.inspect import inspect_root, render_report
    from builder.stages.preprocess import open_root
    from builder.tvqa import TvqaRootError
    from model_calls.outputs import OutputFolderError, check_output_file, written_by
    from model_calls.store import write_json_atomic

    if not tvqa_root.is_dir():
        raise typer.BadParameter(f"{tvqa_root} is not a folder", param_hint="--tvqa-root")
    if json_out is not None:
        try:  # before the root is read: a refusal costs nothing
            check_output_file(json_out, "inspect", overwrite=overwrite, option="--json")
        except OutputFolderError as err:
            raise typer.BadParameter(str(err), param_hint="--json") from None
    from builder.config import BuildConfig

    config = BuildConfig(tvqa_root=tvqa_root, out=Path("."), layout=_layout(layout or [], layout_file))
    try:
        report = inspect_root(open_root(config), _shows(shows), config.min_tagged_fraction, limit)
    except TvqaRootError as err:
        raise typer.BadParameter(str(err), param_hint="--tvqa-root") from None
    typer.echo(render_report(report))
    if json_out is not None:
        write_json_atomic(json_out, {"written_by": written_by("inspect"), **report.to_dict()})
    if report.usable == 0:
        typer.echo("error: no usable clip under this root", err=True)
        raise typer.Exit(1)


def media(
    release: Annotated[Path, typer.Option(help="An annotation release whose media root is derived (release.json).")],
    tvqa_root: Annotated[Path, typer.Option(help="Your TVQA copy (frames + audio, or mp4s).")],
    out: Annotated[Path, typer.Option(help="The media root to write (pass it to resolve_media / data_dir).")],
    layout: Annotated[list[str] | None, typer.Option(help=LAYOUT_HELP)] = None,
    layout_file: Annotated[Path | None, typer.Option(help=LAYOUT_FILE_HELP)] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Write into an --out folder this command did not make (its files are kept, same-named clips "
            "replaced; never the release, the TVQA root or a folder holding them)."
        ),
    ] = False,
) -> None:
    """Regenerate a release's derived media root from your own TVQA copy: each clip muxed again from its
    frames and audio (or its mp4 linked) and checked against the release's durations. --out must be new,
    empty or a media root this command wrote."""
    from builder.media_root import regenerate_media_root
    from model_calls.outputs import OutputFolderError

    try:
        summary = regenerate_media_root(
            release, tvqa_root, out, _layout(layout or [], layout_file).media(), overwrite=overwrite
        )
    except OutputFolderError:
        raise
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--release") from None
    typer.echo(f"media root {out}: {summary.written} clips written, {summary.kept} already there")
    for clip_id, why in list(summary.problems.items())[:10]:
        typer.echo(f"  {clip_id}: {why}", err=True)
    if summary.problems:
        typer.echo(f"error: {len(summary.problems)} clips could not be made", err=True)
        raise typer.Exit(1)
