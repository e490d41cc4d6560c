"""Resume after a real kill: SIGKILL a build process at several moments, rerun it, and get the
same release as an uninterrupted build (nothing lost, nothing duplicated); Ctrl-C ends a command with one line
saying what to do next, and status 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from builder.config import BuildConfig
from builder.pipeline import STAGE_NAMES, run_build
from model_calls.store import iter_records

pytestmark = pytest.mark.slow

CHILD = r"""
import sys, time
from pathlib import Path
from builder.config import BuildConfig
from model_calls import CachedBackend, ResponseCache, get_backend
from model_calls.outputs import claim_output_dir
from builder.pipeline import run_build
from builder.sample import SAMPLE_REPLAY

class Slow:
    name = "slow-replay"
    def __init__(self):
        self.inner = get_backend("replay", path=SAMPLE_REPLAY)
    @property
    def calls(self):
        return self.inner.calls
    def generate(self, requests):
        time.sleep(0.15)  # a model takes time: gives the kill something to interrupt
        return self.inner.generate(requests)

out = Path(sys.argv[2])
config = BuildConfig(tvqa_root=Path(sys.argv[1]), out=out, backend="replay", progress=False, batch_size=2,
                     name="crossomni-sample")
print("started", flush=True)
claim_output_dir(out, "build")  # a build folder: the cache below sits where run_build puts it
run_build(config, backend=CachedBackend(Slow(), ResponseCache(out / "cache.sqlite")))
print("finished", flush=True)
"""

FILES = ("release.json", "clips.jsonl", "train.jsonl", "test.jsonl")


@pytest.mark.parametrize("kill_after", [0.5, 1.5, 3.0])
def test_killed_build_resumes_to_the_same_release(sample_tvqa_root: Path, tmp_path: Path, kill_after: float) -> None:
    reference = tmp_path / "reference"
    run_build(
        BuildConfig(
            tvqa_root=sample_tvqa_root, out=reference, backend="replay", progress=False, name="crossomni-sample"
        )
    )
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(sample_tvqa_root), str(out)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout.readline().strip() == "started"
        time.sleep(kill_after)
        assert child.poll() is None, "the build finished before it could be killed"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not (out / "release" / "release.json").exists()
    finished = subprocess.run(
        [sys.executable, "-c", CHILD, str(sample_tvqa_root), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert "finished" in finished.stdout, finished.stderr[-2000:]
    for name in FILES:
        assert (out / "release" / name).read_bytes() == (reference / "release" / name).read_bytes(), name
    for stage in STAGE_NAMES:
        ids = [r.get("id") or r["clip_id"] for r in iter_records(out / "stages" / f"{stage}.jsonl")]
        assert len(ids) == len(set(ids)), stage


def test_ctrl_c_ends_a_build_with_one_line_and_status_130(tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "crossomni_cli", "build", "--sample", "--clips", "20", "--out", str(out)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not (out / "stages" / "preprocess.jsonl").exists() and child.poll() is None:
            assert time.monotonic() < deadline, "the build never reached its first stage"
            time.sleep(0.2)
        assert child.poll() is None, "the build finished before it could be interrupted"
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130
    assert stderr.rstrip().splitlines()[-1] == "interrupted; rerun the same command to resume"
    assert "Traceback" not in stderr


def test_ctrl_c_in_training_says_nothing_was_saved(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import training.sft
    from crossomni_cli import app

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training.sft, "main", interrupted)
    monkeypatch.setattr(training.sft, "parse", lambda args: (None, None, None))
    result = CliRunner().invoke(app, ["train", "sft", "--config", "sft_tiny-omni"])
    assert result.exit_code == 130
    assert (
        result.output.strip().splitlines()[-1]
        == "interrupted; the adapter was not saved; rerun the same command to train again"
    )
