"""README command 1's job, end to end, as a user runs it."""

import json
import subprocess
import sys

import pytest

import crossomni


@pytest.mark.slow
def test_demo_command_end_to_end(tmp_path, sample_release):
    result = subprocess.run(
        [sys.executable, "-m", "crossomni_cli", "demo", "--workdir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "COLUMNS": "80"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert (tmp_path / "demo" / "crossomni" / "README.md").is_file()
    assert "'sample_rate': 16000" in out and "'frames': (3, 3, 64, 96)" in out
    # The first-option baseline's overall accuracy is the share of test answers that are "A".
    answers = [json.loads(line)["answer"] for line in (sample_release / "test.jsonl").open()]
    expected = 100 * answers.count("A") / len(answers)
    overall = next(line for line in out.splitlines() if "overall" in line)
    assert f"{expected:.1f}" in overall.split("│")[2], overall
    for task in crossomni.TASK_TYPES:
        assert task.short in out
    assert "…" not in out  # an 80-column terminal shows every name whole


def test_a_demo_folder_export_did_not_write_is_refused_before_anything_is_written(tmp_path):
    """A ``crossomni/`` folder from before export left its marker (or a user's own) is kept: one line that
    names the demo's own --overwrite, and no sample root generated beside it."""
    from tests.helpers.cli import invoke

    theirs = tmp_path / "demo" / "crossomni"
    theirs.mkdir(parents=True)
    (theirs / "notes.md").write_text("mine", encoding="utf-8")
    result = invoke(["demo", "--workdir", str(tmp_path / "demo")])
    assert result.exit_code != 0
    assert "the demo's export folder" in result.output and "--overwrite" in result.output
    assert "Traceback" not in result.output
    assert (theirs / "notes.md").read_text(encoding="utf-8") == "mine"
    assert not (tmp_path / "demo" / "tvqa").exists()
