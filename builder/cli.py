"""The builder's commands (build, inspect, media, sample, tiny-model, export, export-metric, push, demo).

``crossomni_cli`` mounts them."""

import typer

from builder.build_cli import build, inspect, media

app = typer.Typer(help="Build, export and publish the CrossOmni dataset.", no_args_is_help=True)
OVERWRITE_REFUSES = "never the release, the TVQA or media root, or a folder holding them"
app.command("build")(build)
app.command("inspect")(inspect)
app.command("media")(media)


@app.command()
def sample(
    out: str = typer.Option("build/sample_tvqa", help="Folder to write the sample TVQA root into."),
    clips: int = typer.Option(None, min=1, help="Generate this many distinct clips instead of the shipped sample."),
    seed: int = typer.Option(0, help="Seed of the generated clips (with --clips)."),
) -> None:
    """Generate the embedded TVQA-format sample (subtitles, QA jsonl, mp4 clips with audio); with --clips,
    N distinct clips and their spec (OUT/spec.yaml, what `--backend scripted -o spec_path=...` answers from)."""
    from builder.sample.generate import generate_sample_tvqa, sample_spec, write_spec

    spec = sample_spec(clips, seed) if clips else None
    root = generate_sample_tvqa(out, spec=spec)
    if spec is not None:
        write_spec(spec, root)
    typer.echo(
        f"sample TVQA root written to {root}" + (f" ({clips} clips, spec {root / 'spec.yaml'})" if clips else "")
    )


@app.command("tiny-model")
def tiny_model(
    out: str = typer.Option("tiny-omni", help="Folder to write (new, or an earlier tiny model's)."),
) -> None:
    """Write a tiny random-weight Qwen2.5-Omni thinker and its processor (offline, seconds): a model to try
    `crossomni eval --model DIR`, `crossomni view` and `crossomni train` with before any download (junk answers)."""
    from model_calls.tiny_omni import build_tiny_omni

    folder = build_tiny_omni(out)
    typer.echo(f"tiny random Qwen2.5-Omni thinker written to {folder} (random weights: its answers are junk)")


@app.command()
def export(
    release: str = typer.Argument(..., help="Annotation release folder (what `crossomni build` writes)."),
    out: str = typer.Option("crossomni", help="Output folder; `load_dataset(<out>, config)` reads it."),
    tvqa_root: str = typer.Option(
        None,
        "--tvqa-root",
        "--media-root",
        help="The folder the release's media paths are relative to (checked): the TVQA root, or for a release "
        "built from frames its derived media root (OUT/media, or what `crossomni media` writes).",
    ),
    media: str = typer.Option("reference", help="'reference': store paths (default); 'embed': store clip bytes."),
    rows_per_shard: int = typer.Option(None, min=1, help="Rows per parquet shard (default 5000 reference, 200 embed)."),
    overwrite: bool = typer.Option(
        False, help=f"Replace an --out folder that is not an earlier export ({OVERWRITE_REFUSES})."
    ),
) -> None:
    """Export an annotation release as a Hub-ready dataset folder (parquet + README.md card). --out must be new,
    empty or an earlier export, which is replaced."""
    from builder.export import export_release

    # a broken release, an unsafe path, a missing or corrupt clip, an --out that is someone else's folder:
    # one `error:` line from the command root
    summary = export_release(
        release, out, tvqa_root=tvqa_root, media=media, rows_per_shard=rows_per_shard, overwrite=overwrite
    )
    totals = {split: sum(counts.values()) for split, counts in summary.counts.items()}
    typer.echo(f"exported {totals} ({media} media) to {summary.out_dir}")
    if summary.review is not None:
        reviewed = sum(counts["reviewed"] for counts in summary.review.values())
        rejected = sum(counts["rejected"] for counts in summary.review.values())
        typer.echo(f"review: {reviewed} instance(s) reviewed, {rejected} rejected and left out")


@app.command("export-metric")
def export_metric_command(
    folder: str = typer.Argument(None, help="Folder to write (default crossomni_acc; the same as --out)."),
    out: str = typer.Option(None, help="Folder to write; evaluate.load('crossomni_acc') finds ./crossomni_acc."),
    overwrite: bool = typer.Option(False, help="Replace a folder that is not an earlier copy of the metric."),
) -> None:
    """Copy the crossomni_acc metric module into a folder, so that evaluate.load("crossomni_acc") finds it by name."""
    from builder.export import export_metric

    if folder and out and folder != out:
        raise typer.BadParameter(f"two folders given ({folder} and --out {out}): give one")
    typer.echo(f"metric module written to {export_metric(folder or out or 'crossomni_acc', overwrite=overwrite)}")


@app.command()
def push(
    folder: str = typer.Argument("crossomni", help="An exported folder (from `crossomni export`)."),
    repo: str = typer.Option(..., "--repo", help="Dataset repo id, ORG/NAME."),
    private: bool = typer.Option(False, help="Create the repo private."),
) -> None:
    """Upload an exported folder to the Hub (token from HF_TOKEN or `hf auth login`)."""
    from builder.push import push_dataset

    typer.echo(f"pushed to {push_dataset(folder, repo, private=private)}")


@app.command()
def demo(
    workdir: str = typer.Option("build/demo", help="Where the sample TVQA root and the export are written."),
    split: str = typer.Option("test", help="Split to score."),
    overwrite: bool = typer.Option(
        False, help="Replace WORKDIR/crossomni even if export did not write it (a demo folder from an older version)."
    ),
) -> None:
    """Run the main job on the embedded sample: generate, export, load, score the baselines, print the table."""
    from rich.console import Console

    from builder.demo import render_table, run_demo

    result = run_demo(workdir, split=split, overwrite=overwrite)
    console = Console()
    console.print(f"sample TVQA root: {result.tvqa_root}", soft_wrap=True)
    console.print(f"exported dataset: {result.export_dir} (rows per split: {result.num_rows})", soft_wrap=True)
    console.print(f"media check: {result.media_check}", soft_wrap=True)
    console.print(render_table(result.scores))
    console.print(f"done in {result.seconds:.1f}s")


@app.command()
def review(
    release: str = typer.Argument(..., help="A release folder, or the build folder holding it (BUILD/release)."),
    tvqa_root: str = typer.Option(None, help="TVQA root the release's clip paths are relative to."),
    host: str = typer.Option(
        "127.0.0.1", help="Address to bind: loopback by default; any other address needs the token of the printed link."
    ),
    port: int = typer.Option(8765, min=0, max=65535, help="Port (0: any free port)."),
) -> None:
    """Review a release in a local web page: accept or reject each instance; decisions go to review.jsonl."""
    from builder.review.app import ReviewApp
    from crossomni import ReleaseError
    from evaluation.web.server import serve

    try:
        page = ReviewApp(release, tvqa_root)
    except (ReleaseError, ValueError) as err:
        raise typer.BadParameter(str(err)) from None
    typer.echo(page.progress()["line"])
    serve(page, host, port, announce=typer.echo)
