"""Start-up cost where users wait: ``crossomni --help`` against ``python -c pass``, and a warm rebuild of
the sample (``crossomni build --sample`` a second time: nothing to do) against ``crossomni --help``.

    python benchmarks/startup.py [--runs 15]

Goals (issue 14): --help <= 8x python; warm rebuild <= 2.5x --help. The three commands run in turn,
one of each per round, and each ratio is the median of the per-round ratios (pairing keeps a ratio
meaningful while a shared machine's speed drifts); also the user+sys CPU seconds of each.
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


def rounds(commands: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[str, list[tuple[float, float]]]:
    """``runs`` rounds, each timing every command once, in turn."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            samples[name].append(timed(command, env))
    return samples


def paired_ratio(samples: dict[str, list[tuple[float, float]]], a: str, b: str, index: int) -> float:
    return statistics.median(x[index] / y[index] for x, y in zip(samples[a], samples[b], strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    python = [sys.executable]
    cli = [*python, "-m", "crossomni_cli"]
    with tempfile.TemporaryDirectory() as tmp:
        build = [*cli, "build", "--sample", "--out", str(Path(tmp) / "sample"), "--no-progress"]
        subprocess.run(build, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)  # the cold build
        timed([*cli, "--help"], env)  # warm the bytecode caches
        samples = rounds(
            {"python": [*python, "-c", "pass"], "help": [*cli, "--help"], "rebuild": build}, env, args.runs
        )
    median = {name: [statistics.median(s[i] for s in runs) for i in (0, 1)] for name, runs in samples.items()}
    wall, cpu = median["python"]
    print(f"python -c pass      {wall:.3f} s wall  {cpu:.3f} s cpu   (median of {args.runs})")
    print(f"crossomni --help    {median['help'][0]:.3f} s wall  {median['help'][1]:.3f} s cpu")
    print(f"warm sample rebuild {median['rebuild'][0]:.3f} s wall  {median['rebuild'][1]:.3f} s cpu")
    help_ratio = [paired_ratio(samples, "help", "python", i) for i in (0, 1)]
    rebuild_ratio = [paired_ratio(samples, "rebuild", "help", i) for i in (0, 1)]
    print(f"--help / python:        {help_ratio[0]:.2f}x wall, {help_ratio[1]:.2f}x cpu (goal <= 8)")
    print(f"warm rebuild / --help:  {rebuild_ratio[0]:.2f}x wall, {rebuild_ratio[1]:.2f}x cpu (goal <= 2.5)")


if __name__ == "__main__":
    main()
