"""Start-up cost where users wait: ``crossomni --help`` against ``python -c pass``, and a warm rebuild of
the sample (``crossomni build --sample`` a second time: nothing to do) against ``crossomni --help``.

    python benchmarks/startup.py [--runs 5]

Goals (issue 14): --help <= 8x python; warm rebuild <= 2.5x --help. Wall-clock medians of --runs runs,
all measured in this run; also the user+sys CPU seconds, steadier on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user+sys of the child) seconds of one run; a failing command stops the benchmark."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_of(command: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    samples = [timed(command, env) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    python = [sys.executable]
    cli = [*python, "-m", "crossomni_cli"]
    with tempfile.TemporaryDirectory() as tmp:
        build = [*cli, "build", "--sample", "--out", str(Path(tmp) / "sample"), "--no-progress"]
        subprocess.run(build, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)  # the cold build
        timed([*cli, "--help"], env)  # warm the bytecode caches
        bare = median_of([*python, "-c", "pass"], env, args.runs)
        helped = median_of([*cli, "--help"], env, args.runs)
        warm = median_of(build, env, args.runs)
    print(f"python -c pass      {bare[0]:.3f} s wall  {bare[1]:.3f} s cpu   (median of {args.runs})")
    print(f"crossomni --help    {helped[0]:.3f} s wall  {helped[1]:.3f} s cpu")
    print(f"warm sample rebuild {warm[0]:.3f} s wall  {warm[1]:.3f} s cpu")
    print(f"--help / python:        {helped[0] / bare[0]:.2f}x wall, {helped[1] / bare[1]:.2f}x cpu (goal <= 8)")
    print(f"warm rebuild / --help:  {warm[0] / helped[0]:.2f}x wall, {warm[1] / helped[1]:.2f}x cpu (goal <= 2.5)")


if __name__ == "__main__":
    main()
