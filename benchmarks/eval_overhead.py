"""Runner overhead of `crossomni eval` against the model calls it makes, on the tiny Qwen2.5-Omni thinker.

    .venv/bin/python benchmarks/eval_overhead.py [--repeats 3] [--max-new-tokens 16] [--batch-size 4]

Measured inside the same ``run_eval`` call (so a busy machine slows all three alike), model loaded once:
- model:   time inside ``model.generate``, as the backend reports it;
- backend: time inside ``backend.generate`` (media decoding + processor + generate);
- runner:  the whole ``run_eval`` into a fresh folder (items, prompts, requests, records, metrics,
           report.md; model loading excluded). Plots are drawn on demand, not by the run: their
           cost (``write_run_report(..., plots=True)``, what ``crossomni eval report RUN`` does) is
           timed after each run, apart.
Prints the medians over ``--repeats`` runs of runner/backend (goal <= 1.2x) and runner/model, end to
end and without the report (a fixed cost per run, not per item: it weighs heavily on 18 items), and
the report's seconds inside the run (goal <= 0.3 s) next to the on-demand plots.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from eval_setup import clear_media_caches, prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()

    from evaluation.report import write_run_report
    from evaluation.runner import EvalConfig, run_eval
    from model_calls import get_backend

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir, dataset, options = prepare(work, args.max_new_tokens)
        backend = get_backend(
            "transformers", model=str(model_dir), batch_size=args.batch_size, max_new_tokens=args.max_new_tokens
        )

        rows = []
        for repeat in range(args.repeats + 1):
            clear_media_caches()
            out = str(work / f"run{repeat}")
            cfg = EvalConfig(model=str(model_dir), out=out, batch_size=args.batch_size, **options)
            start = time.perf_counter()
            result = run_eval(cfg, dataset, backend, progress=False)
            wall = time.perf_counter() - start
            start = time.perf_counter()
            write_run_report(out, plots=True)
            plots = time.perf_counter() - start
            if repeat:  # the first run pays one-off allocations
                rows.append((wall, result.seconds_report, result.seconds_backend, result.seconds_model, plots))
            print(
                f"run {repeat}: runner {wall:.3f} s (report {result.seconds_report:.3f} s; "
                f"plots on demand {plots:.3f} s), "
                f"backend {result.seconds_backend:.3f} s, model {result.seconds_model:.3f} s ({result.n_scored} items)"
                + ("" if repeat else "  [warm-up]")
            )
        print(f"batch size: {args.batch_size}  max new tokens: {args.max_new_tokens}")
        for name, index in (("backend", 2), ("model", 3)):
            end_to_end = statistics.median(row[0] / row[index] for row in rows)
            loop = statistics.median((row[0] - row[1]) / row[index] for row in rows)
            goal = "   (goal <= 1.2x)" if name == "backend" else ""
            print(f"runner / {name:7s} = {end_to_end:.2f}x end to end, {loop:.2f}x without the report{goal}")
        report = statistics.median(row[1] for row in rows)
        plots = statistics.median(row[4] for row in rows)
        print(f"report inside the run: {report:.3f} s (goal <= 0.3 s); plots on demand: {plots:.3f} s")


if __name__ == "__main__":
    main()
