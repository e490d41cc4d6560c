"""Common mistakes end in a short message naming the fault, never a traceback (the traceback with --debug)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def crossomni(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the command; its output decoded as a terminal gets it (not ``text=True``: that turns every carriage
    return of a progress bar's redraw into a newline)."""
    done = subprocess.run(
        [sys.executable, "-m", "crossomni_cli", *args],
        capture_output=True,
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "80", **(env or {})},
        timeout=300,
    )
    out, err = (stream.decode("utf-8", "replace") for stream in (done.stdout, done.stderr))
    return subprocess.CompletedProcess(done.args, done.returncode, out, err)


@pytest.fixture(scope="module")
def exported(sample_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from builder.export import export_release

    out = tmp_path_factory.mktemp("export") / "crossomni"
    export_release(sample_release, out)
    return out


def mistakes(exported: Path, tmp: Path) -> list[tuple[list[str], int, str]]:
    """(arguments, exit status, a phrase the message must contain)."""
    empty = tmp / "empty_root"
    empty.mkdir(exist_ok=True)
    run = ["eval", "--model", str(exported), "--dataset", str(exported), "--out", str(tmp / "run")]
    release = REPO / "builder" / "sample" / "release"
    occupied = tmp / "occupied"
    occupied.mkdir(exist_ok=True)
    (occupied / "mine.txt").write_text("not a model")
    return [
        ([*run, "--backend", "scripted"], 2, "crossomni tiny-model"),  # the builder's backend answers no question
        (["eval", "--model", str(exported), "--dataset", str(release), "--out", str(tmp / "r")], 1, "crossomni export"),
        (["tiny-model", "--out", str(occupied)], 1, "not empty"),
        (["build", "--tvqa-root", str(empty), "--out", str(tmp / "b")], 2, "no TVQA QA files"),
        ([*run, "--prompting", "fewshot"], 2, "default, cot, icl"),
        ([*run, "--config", "crosss"], 2, "vision_to_text"),
        ([*run, "--split", "validation"], 1, "validation"),
        (["demo", "--split", "validation", "--workdir", str(tmp / "demo")], 1, "train, test"),
        (["eval", "--model", "m", "--dataset", "nonexistent_ds", "--out", str(tmp / "r")], 1, "no such folder"),
        (["eval", "--model", "no_such_model", "--dataset", str(exported), "--out", str(tmp / "r")], 1, "no such"),
        (["export", str(tmp / "no_release"), "--out", str(tmp / "e")], 1, "release.json"),
        (["eval", "report", str(tmp / "no_run")], 1, "run.json"),
        (["eval", "compare", str(tmp / "no_run"), "--paper", "Qwen2.5-Omni-7B:fewshot"], 1, "methods: cot"),
        (["train", "sft", "--config", "sft_qwen2.5-omni-3b", "--max_stepz", "1"], 1, "--max_stepz"),
        (["train", "sft", "--config", "no_recipe"], 2, "sft_qwen2.5-omni-3b"),
        (["train", "grpo", "--config", "grpo_qwen2.5-omni-3b"], 1, "--sft-adapter"),
    ]


def terminal_lines(output: str) -> list[str]:
    """The lines a terminal shows: a progress bar redraws its line with carriage returns, so only the last
    drawing of each line stays (``str.splitlines`` would count every redraw as a line)."""
    return [line.rsplit("\r", 1)[-1] for line in output.split("\n") if line.rsplit("\r", 1)[-1].strip()]


def test_a_progress_bar_is_one_terminal_line() -> None:
    bar = "\rGenerating train split:   0%|  | 0/18\rGenerating train split: 100%|##| 18/18\n"
    assert terminal_lines(bar + "error: Unknown split\n") == [
        "Generating train split: 100%|##| 18/18",
        "error: Unknown split",
    ]


@pytest.mark.slow
def test_common_mistakes_are_short_errors(exported: Path, tmp_path: Path) -> None:
    # A Hugging Face cache of its own: with the shared ~/.cache, whether `datasets` prepared the export (and drew
    # its progress bars) depended on what other runs had left there, and each redraw of a bar was counted as a
    # line (how many: how slow the machine was). So it failed on a cold cache under load only, never alone.
    cache = {"HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets")}
    for args, status, phrase in mistakes(exported, tmp_path):
        result = crossomni(*args, env=cache)
        output = (result.stdout + result.stderr).strip()
        shown = f"crossomni {' '.join(args)} →\n{output}"
        assert "Traceback" not in output, shown
        assert len(terminal_lines(output)) <= 5, shown
        assert result.returncode == status, shown
        assert phrase in output, shown


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    args = ["export", str(tmp_path / "no_release"), "--out", str(tmp_path / "e")]
    assert "Traceback" not in crossomni(*args).stderr
    assert "Traceback" in crossomni("--debug", *args).stderr
    assert "Traceback" in crossomni(*args, env={"CROSSOMNI_DEBUG": "1"}).stderr


def test_help_is_never_cut_at_80_columns() -> None:
    for command in (
        ["--help"],
        ["build", "--help"],
        ["eval", "--help"],
        ["export", "--help"],
        ["train", "sft", "--help"],
    ):
        result = crossomni(*command)
        assert result.returncode == 0, result.stderr
        assert "…" not in result.stdout, f"{command}: {result.stdout}"
        cut = [line for line in result.stdout.splitlines()[1:] if line.rstrip().endswith("...")]
        assert not cut, f"{command}: {cut}"  # click cuts a command list's help with "..." unless told not to
        assert max(len(line) for line in result.stdout.splitlines()) <= 80, command


def test_lazy_commands_list_their_own_summary_and_load() -> None:
    """The root lists eval/train/view/lmms-tasks without importing them; what it shows is their own help."""
    from typer.main import get_command

    import crossomni_cli

    root = get_command(crossomni_cli.app)
    context = root.make_context("crossomni", ["--help"], resilient_parsing=True)
    assert list(crossomni_cli.LAZY_COMMANDS) == root.list_commands(context)[-len(crossomni_cli.LAZY_COMMANDS) :]
    for name, lazy in crossomni_cli.LAZY_COMMANDS.items():
        command = root.get_command(context, name)
        assert command is not None and command.name == name
        assert command.get_short_help_str(limit=10_000) == lazy.summary, name


def test_root_help_imports_no_eval_or_training_module() -> None:
    code = (
        "import sys; sys.argv = ['crossomni', '--help']\n"
        "import crossomni_cli\n"
        "try:\n    crossomni_cli.app()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('evaluation', 'training', 'click', 'pydantic')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "eval " in done.stdout and "train " in done.stdout  # listed all the same
    view = crossomni("view", "--help")
    assert view.returncode == 0 and "Usage: crossomni view [OPTIONS] {run}" in view.stdout
