"""Runner overhead of `crossomni eval` against the model calls it makes, on the tiny Qwen2.5-Omni thinker.

    .venv/bin/python benchmarks/eval_overhead.py [--repeats 3] [--max-new-tokens 16] [--batch-size 4]

Measured inside the same ``run_eval`` call (so a busy machine slows all three alike), model loaded once:
- model:   time inside ``model.generate``, as the backend reports it;
- backend: time inside ``backend.generate`` (media decoding + processor + generate);
- runner:  the whole ``run_eval`` into a fresh folder (items, prompts, requests, records, metrics,
           report and plots; model loading excluded).
Prints the median over ``--repeats`` runs of runner/backend (goal <= 1.2x) and runner/model.
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

    from builder.model_calls import get_backend
    from evaluation.runner import EvalConfig, run_eval

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir, dataset, options = prepare(work, args.max_new_tokens)
        backend = get_backend(
            "transformers", model=str(model_dir), batch_size=args.batch_size, max_new_tokens=args.max_new_tokens
        )

        rows = []
        for repeat in range(args.repeats + 1):
            clear_media_caches()
            cfg = EvalConfig(
                model=str(model_dir), out=str(work / f"run{repeat}"), batch_size=args.batch_size, **options
            )
            start = time.perf_counter()
            result = run_eval(cfg, dataset, backend, progress=False)
            wall = time.perf_counter() - start
            if repeat:  # the first run pays one-off allocations
                rows.append((wall, result.seconds_backend, result.seconds_model))
            print(
                f"run {repeat}: runner {wall:.3f} s, backend {result.seconds_backend:.3f} s, "
                f"model {result.seconds_model:.3f} s ({result.n_scored} items)" + ("" if repeat else "  [warm-up]")
            )
        over_backend = statistics.median(w / b for w, b, _ in rows)
        over_model = statistics.median(w / m for w, _, m in rows)
        print(f"batch size: {args.batch_size}  max new tokens: {args.max_new_tokens}")
        print(f"runner / backend = {over_backend:.2f}x   (goal <= 1.2x)")
        print(f"runner / model   = {over_model:.2f}x")


if __name__ == "__main__":
    main()
