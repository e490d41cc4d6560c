"""Time and peak memory of the crossomni_acc metric at a million raw outputs, against bare numpy.

    .venv/bin/python benchmarks/metric_speed.py                 # 1M outputs, 3 repeats
    .venv/bin/python benchmarks/metric_speed.py --n 200000 --repeats 5 --evaluate

The outputs look like a real run's: 74% a bare letter in some spelling ("B", " c.", "(D)"), the rest
free text, each one different (reasoning, "The answer is (b).", "<think>…</think> C", refusals).
Each case runs in a fresh process with the metric's defaults (95% interval, 1000 replicates):
with clip ids (9 questions a clip) and without. The baseline, timed in the same process on the
same lists, is the least numpy can do: the lists as string arrays compared, task names factorised
with ``np.unique``, ``np.bincount`` per task (no reading of answers at all); a "lean" variant
compares object arrays instead, sparing numpy the fixed-width copy of the long raw outputs. The metric runs once
first, alone, so the peak RSS printed is the metric's (inputs included), not the baseline's arrays.
Prints medians over ``--repeats``, the ratio (goal <= 5x), and the process's peak RSS (goal <= 1.5 GB)
next to its RSS with only the inputs built.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, random, resource, statistics, sys, time
import numpy as np
n, repeats, clips, through_evaluate = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1"
sys.path.insert(0, sys.argv[5])
from crossomni import TASK_NAMES
from evaluation.crossomni_acc.scoring import score

rng = random.Random(0)
bare = ["A", "B", "C", "D", " b", "c.", "(D)", "a\n", "B.", "[C]"]
words = "the man in the red jacket laughs while the woman with glasses speaks about coffee".split()
def free(i):
    letter = "ABCD"[i % 4]
    kind = i % 5
    phrase = " ".join(rng.sample(words, 6)) + f" #{i}"
    if kind == 0:
        return f"The answer is ({letter.lower()}). {phrase}"
    if kind == 1:
        return f"<think>{phrase}</think>\n{letter}"
    if kind == 2:
        return f"{letter}. {phrase}"
    if kind == 3:
        return f"I cannot tell from this clip: {phrase}."
    return f"{phrase}, so my final answer: {letter}"
predictions = [rng.choice(bare) if rng.random() < 0.74 else free(i) for i in range(n)]
references = [rng.choice("ABCD") for _ in range(n)]
tasks = [rng.choice(TASK_NAMES) for _ in range(n)]
clip_ids = [f"s01e{i // 9 // 40:03d}_seg02_clip_{i // 9:06d}" for i in range(n)] if clips else None
inputs_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def baseline():
    correct = np.array(predictions) == np.array(references)
    _, task_index = np.unique(np.array(tasks), return_inverse=True)
    return np.bincount(task_index, weights=correct) / np.bincount(task_index)

def lean_baseline():  # object arrays: no fixed-width copy of the long raw outputs
    correct = np.array(predictions, dtype=object) == np.array(references, dtype=object)
    _, task_index = np.unique(np.array(tasks), return_inverse=True)
    return np.bincount(task_index, weights=correct.astype(float)) / np.bincount(task_index)

if through_evaluate:
    import evaluate
    metric = evaluate.load(sys.argv[6])
    def run():
        return metric.compute(predictions=predictions, references=references, task_types=tasks, clip_ids=clip_ids)
else:
    def run():
        return score(predictions, references, tasks, clip_ids=clip_ids)

result = run()  # first, so that the peak below is the metric's and not the baseline's string arrays
metric_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
base_times, lean_times, metric_times = [], [], []
for _ in range(repeats):
    start = time.perf_counter(); baseline(); base_times.append(time.perf_counter() - start)
    start = time.perf_counter(); lean_baseline(); lean_times.append(time.perf_counter() - start)
    start = time.perf_counter(); result = run(); metric_times.append(time.perf_counter() - start)
print(json.dumps({
    "baseline": statistics.median(base_times), "metric": statistics.median(metric_times),
    "ratios": [m / b for m, b in zip(metric_times, base_times)],
    "lean": statistics.median(lean_times), "lean_ratios": [m / b for m, b in zip(metric_times, lean_times)],
    "peak_rss_mib": metric_rss, "inputs_rss_mib": inputs_rss,
    "overall": result["overall"], "ci": [result["ci_low_overall"], result["ci_high_overall"]],
    "parse_failure_rate": result["parse_failure_rate"],
}))
"""


def run_case(n: int, repeats: int, clips: bool, through_evaluate: bool) -> dict:
    from builder.export import METRIC_DIR

    args = [str(n), str(repeats), "1" if clips else "0", "1" if through_evaluate else "0", str(REPO), str(METRIC_DIR)]
    done = subprocess.run([sys.executable, "-c", CHILD, *args], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--evaluate", action="store_true", help="also time evaluate.load(...).compute")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    cases = [("score, clip ids", True, False), ("score, no clip ids", False, False)]
    if args.evaluate:
        cases += [("evaluate, clip ids", True, True), ("evaluate, no clip ids", False, True)]
    print(f"{args.n:,} raw outputs, defaults (95% interval, 1000 replicates), median of {args.repeats} runs")
    for label, clips, through_evaluate in cases:
        r = run_case(args.n, args.repeats, clips, through_evaluate)
        ratio, lean = statistics.median(r["ratios"]), statistics.median(r["lean_ratios"])
        print(
            f"{label:22s} metric {r['metric']:6.2f} s  numpy {r['baseline']:5.2f} s  ratio {ratio:5.2f}x (goal <= 5x)  "
            f"[lean numpy {r['lean']:5.2f} s: {lean:5.2f}x]  "
            f"peak RSS {r['peak_rss_mib'] / 1024:5.2f} GB (inputs alone {r['inputs_rss_mib'] / 1024:4.2f} GB; "
            f"goal <= 1.5 GB)  overall {r['overall']:.4f} CI [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]"
        )


if __name__ == "__main__":
    main()
