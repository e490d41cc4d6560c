"""`crossomni build` on the command line."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

import crossomni
from crossomni_cli import app


def test_build_sample_from_the_command_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["build", "--sample", "--out", str(tmp_path), "--no-progress", "--qa", "llm"])
    assert result.exit_code == 0, result.output
    assert "18 train / 18 test instances over 4 clips" in result.output
    assert crossomni.read_release_manifest(tmp_path / "release")["build"]["qa_generator"] == "llm"
    assert (tmp_path / "report.md").is_file() and (tmp_path / "sample_tvqa" / "videos").is_dir()


def test_layout_patterns_find_moved_files(sample_tvqa_root: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "tvqa"
    shutil.copytree(sample_tvqa_root, root)
    (root / "videos").rename(root / "clips")
    (root / "tvqa_subtitles").rename(root / "subs")
    args = [
        "build",
        "--tvqa-root",
        str(root),
        "--out",
        str(tmp_path / "out"),
        "--backend",
        "replay",
        "--no-progress",
        "--layout",
        "video=clips/{vid_name}.mp4",
        "--layout",
        "subtitles=subs/{vid_name}.srt",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    clips = crossomni.read_clips(tmp_path / "out" / "release")
    assert len(clips) == 4 and all(c.video.startswith("clips/") for c in clips.values())


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "250"})
    for args, message in [
        (["--tvqa-root", str(tmp_path), "--shard", "3/2"], "need 0 <= i < n"),
        (["--tvqa-root", str(tmp_path / "nope")], "is not a folder"),
        (["--tvqa-root", str(tmp_path), "--qa", "magic"], "qa generator must be one of"),
        (["--tvqa-root", str(tmp_path), "--task-proportions", "audio"], "expected TASK=WEIGHT"),
        ([], "pass --tvqa-root PATH (or --sample)"),
        (["--tvqa-root", str(tmp_path), "--layout", "videos=x/{vid_name}.mp4"], "expected one of audio, frames"),
    ]:
        result = runner.invoke(app, ["build", "--out", str(tmp_path / "out"), *args])
        text = re.sub(r"[\s│╭╮╰╯─]+", " ", result.output)
        assert result.exit_code != 0 and message in text, (args, result.output)
