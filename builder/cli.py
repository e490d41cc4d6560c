"""The ``crossomni`` command line: build, export, push, demo, eval, train."""

from __future__ import annotations

import typer

from evaluation.cli import app as eval_app
from training.cli import app as train_app

app = typer.Typer(
    help="CrossOmni: cross-modal coreference for omni-modal LLMs (arXiv 2604.05522).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(eval_app, name="eval")
app.add_typer(train_app, name="train")


@app.command()
def sample(out: str = typer.Option("build/sample_tvqa", help="Folder to write the sample TVQA root into.")) -> None:
    """Generate the embedded TVQA-format sample (subtitles, QA jsonl, mp4 clips with audio)."""
    from builder.sample.generate import generate_sample_tvqa

    root = generate_sample_tvqa(out)
    typer.echo(f"sample TVQA root written to {root}")


if __name__ == "__main__":
    app()
