"""A smoke run of ``benchmarks/build_scale.py`` on a tiny TVQA-shaped root (2 clips of 6 s, small frames, fast
simulated rates): the root it generates reads as TVQA (every clip usable), every stage is reported with its
model and wall time, the disk lines are printed, and the warm rebuild makes no model call and no decode."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def test_build_scale_runs_end_to_end_and_a_warm_rebuild_decodes_nothing(tmp_path: Path) -> None:
    args = ["--clips", "2", "--distinct", "1", "--seconds", "6", "--cues", "3", "--size", "96x64"]
    args += ["--rates", "caption=40,text=400,voice=20", "--workdir", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "build_scale.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines() if re.match(r"\s*[a-z]+\s+\d+\s", line)}
    assert {"preprocess", "caption", "voice", "blind", "rationale", "build"} <= set(rows)
    assert int(rows["caption"][1]) == 2 * (3 + 1) and int(rows["voice"][1]) == 2 * 3  # segments + whole clip; speakers
    assert float(rows["caption"][2]) > 0 and rows["caption"][-1] != "-"  # simulated model time, and its ratio
    assert re.search(r"intermediate \(work \+ stages \+ cache\) / own media \d", out)
    assert re.search(r"warm rebuild .*: 0 backend calls, \d+ cache hits, 0 media decodes", out), out
