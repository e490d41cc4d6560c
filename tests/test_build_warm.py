"""A re-run over a finished build folder answers from its files without importing the stages, and only then."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossomni_cli import app

REPO = Path(__file__).resolve().parents[1]
RERUN = (
    "import sys; from crossomni_cli import app; "
    "app(['build', '--sample', '--out', sys.argv[1], '--no-progress'], standalone_mode=False); "
    "print('stages imported:', 'builder.pipeline' in sys.modules)"
)


def _rerun(out: Path) -> str:
    done = subprocess.run([sys.executable, "-c", RERUN, str(out)], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("warm") / "build"
    result = CliRunner().invoke(app, ["build", "--sample", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    return out


def test_a_finished_build_is_answered_without_the_stages(finished):
    release = {p.name: p.read_bytes() for p in (finished / "release").glob("*")}
    output = _rerun(finished)
    assert "18 train / 18 test instances over 4 clips; 0 backend calls, 0 cache hits" in output
    assert "stages imported: False" in output
    assert {p.name: p.read_bytes() for p in (finished / "release").glob("*")} == release


def test_a_touched_release_is_rebuilt_by_the_pipeline(finished):
    train = finished / "release" / "train.jsonl"
    original = train.read_bytes()
    train.write_bytes(original.replace(b"Who", b"Whom", 1))
    output = _rerun(finished)
    assert "stages imported: True" in output and "0 backend calls" in output
    assert train.read_bytes() == original  # rewritten from the stage outputs
    assert "stages imported: False" in _rerun(finished)  # and finished again


def test_other_settings_still_refused(finished):
    result = CliRunner().invoke(app, ["build", "--sample", "--out", str(finished), "--no-progress", "--seed", "3"])
    assert result.exit_code != 0 and "built with other settings" in result.output
