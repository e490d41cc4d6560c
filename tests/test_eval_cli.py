"""`crossomni eval` end to end on the embedded sample with a tiny random Qwen2.5-Omni thinker.

The model's outputs are junk: this checks the pipeline (media in, records, resume, report, plots,
compare), not accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossomni_cli import app
from tests.helpers.metrics import recompute_metrics
from tests.helpers.tiny_omni import MAX_PIXELS, MIN_PIXELS


@pytest.fixture(scope="module")
def embedded_export(tmp_path_factory, sample_release, sample_tvqa_root) -> Path:
    from builder.export import export_release

    folder = tmp_path_factory.mktemp("export") / "crossomni"
    export_release(sample_release, folder, tvqa_root=sample_tvqa_root, media="embed")
    return folder


def _eval(model: Path, dataset: Path, out: Path, *extra: str):
    args = ["eval", "--model", str(model), "--dataset", str(dataset), "--out", str(out), "--quiet"]
    args += ["--fps", "1", "--max-pixels", str(MAX_PIXELS), "--min-pixels", str(MIN_PIXELS), "--max-new-tokens", "4"]
    return CliRunner().invoke(app, [*args, *extra])


def test_eval_command_end_to_end(tmp_path, tiny_omni_dir, embedded_export):
    run = tmp_path / "default"
    result = _eval(tiny_omni_dir, embedded_export, run)
    assert result.exit_code == 0, result.output
    assert "18/18 scored, 0 pending" in result.output

    records = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 18 and len({r["id"] for r in records}) == 18
    assert all(r["modalities"] == ["text", "video", "audio"] for r in records)
    assert all(isinstance(r["raw_output"], str) and r["completion_tokens"] <= 4 for r in records)

    metrics = json.loads((run / "metrics.json").read_text())
    assert recompute_metrics(records) == pytest.approx(metrics)

    report = (run / "report.md").read_text()
    assert "| Run | Au | Au→Te | Au→Vi | Te | Te→Au | Te→Vi | Vi | Vi→Au | Vi→Te | Overall | Single | Cross |" in report
    assert "| paper: Average (default) | 46.89" in report
    assert "text+video+audio: 18" in report
    assert f"crossomni eval report {run}" in report and not (run / "plots").exists()  # plots are drawn on demand
    assert "nan%" not in result.output

    # resume: a rerun makes no model call and changes nothing
    again = _eval(tiny_omni_dir, embedded_export, run)
    assert again.exit_code == 0, again.output
    meta = json.loads((run / "run.json").read_text())
    assert meta["backend_calls"] == 0 and meta["n_scored"] == 18
    assert len((run / "predictions.jsonl").read_text().splitlines()) == 18

    # an ablation run, then the two side by side
    ablation = tmp_path / "text_only"
    result = _eval(tiny_omni_dir, embedded_export, ablation, "--inputs", "text-only", "--limit", "4")
    assert result.exit_code == 0, result.output
    assert "nan%" not in result.output and "cross –" in result.output  # 4 items cannot cover 6 cross tasks
    assert all(json.loads(line)["modalities"] == ["text"] for line in (ablation / "predictions.jsonl").open())
    refused = CliRunner().invoke(app, ["eval", "compare", str(run), str(ablation)])
    assert refused.exit_code == 2 and "different items" in refused.output  # 18 items against 4
    args = ["eval", "compare", str(run), str(ablation), "--out", str(tmp_path / "cmp"), "--allow-different-items"]
    compared = CliRunner().invoke(app, args)
    assert compared.exit_code == 0, compared.output
    assert "Δ vs default (default.v2, full)" in compared.output
    assert (tmp_path / "cmp" / "compare_per_task.png").stat().st_size > 0

    # the report is rebuilt from the run's files alone
    (run / "report.md").unlink()
    rebuilt = CliRunner().invoke(app, ["eval", "report", str(run)])
    assert rebuilt.exit_code == 0 and "| Run | Au |" in (run / "report.md").read_text()
    from PIL import Image

    for name in ("per_task.png", "fixed_groups.png"):
        assert f"(plots/{name})" in (run / "report.md").read_text()
        with Image.open(run / "plots" / name) as image:
            image.verify()


def test_mcq_column_mapping():
    from evaluation.cli import parse_mcq_columns

    columns = parse_mcq_columns("id=qid,options=a0|a1|a2|a3,answer=answer_idx,video=video_path,category=task")
    assert columns.options == ["a0", "a1", "a2", "a3"] and columns.answer == "answer_idx"
    assert columns.question == "question" and columns.audio is None


def test_eval_help_and_bad_arguments(tmp_path):
    runner = CliRunner()
    assert "--prompting" in runner.invoke(app, ["eval", "--help"]).output
    assert "--paper" in runner.invoke(app, ["eval", "compare", "--help"]).output
    missing_out = runner.invoke(app, ["eval", "--model", "m"])
    assert missing_out.exit_code != 0 and "--out" in missing_out.output
    bad_columns = runner.invoke(app, ["eval", "--model", "m", "--out", str(tmp_path), "--mcq-columns", "foo=bar"])
    assert bad_columns.exit_code != 0 and "FIELD=COLUMN" in bad_columns.output


@pytest.mark.slow
def test_quiet_shows_no_progress_bar(tmp_path, tiny_omni_dir, embedded_export):
    import subprocess
    import sys

    args = ["eval", "--model", str(tiny_omni_dir), "--dataset", str(embedded_export), "--out", str(tmp_path / "q")]
    args += ["--fps", "1", "--max-pixels", str(MAX_PIXELS), "--min-pixels", str(MIN_PIXELS), "--max-new-tokens", "2"]
    loud = subprocess.run(
        [sys.executable, "-m", "crossomni_cli", *args, "--limit", "1"], capture_output=True, text=True
    )
    assert loud.returncode == 0, loud.stderr
    assert "%|" in loud.stderr  # the bars the quiet run must not show do appear without --quiet
    quiet = subprocess.run(
        [sys.executable, "-m", "crossomni_cli", *args, "--limit", "2", "--quiet"], capture_output=True, text=True
    )
    assert quiet.returncode == 0, quiet.stderr
    assert "%|" not in quiet.stderr and "it/s" not in quiet.stderr, quiet.stderr
