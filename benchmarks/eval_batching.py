"""Throughput of the transformers backend with batching vs batch size 1, on the tiny Qwen2.5-Omni thinker.

    .venv/bin/python benchmarks/eval_batching.py [--batch-sizes 1 4 8] [--max-new-tokens 16] [--repeats 3]

Same requests (the sample's 36 train+test items with frames + audio track) for every batch size,
media decoded beforehand (cached) so only the batched processor + generate differ. Prints items/s
per batch size (best of ``--repeats``) and each one's speed-up over batch size 1.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from eval_setup import prepare, timed_generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from evaluation.runner import EvalConfig, build_request, load_items
    from model_calls import get_backend

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir, dataset, options = prepare(work, args.max_new_tokens)
        backend = get_backend("transformers", model=str(model_dir), max_new_tokens=args.max_new_tokens)
        requests = []
        for split in ("train", "test"):
            cfg = EvalConfig(model=str(model_dir), out=str(work / "probe"), split=split, **options)
            items = load_items(cfg, dataset, work / "media")
            requests += [build_request(item, cfg, cfg.input_config()) for item in items]
        backend.batch_size = 1
        backend.generate(requests)  # warm-up; also fills the decoded-media cache

        rates = {}
        for size in args.batch_sizes:
            backend.batch_size = size
            best = min(timed_generate(backend, requests) for _ in range(args.repeats))
            rates[size] = len(requests) / best
        base = rates.get(1)
        print(f"items: {len(requests)}  max new tokens: {args.max_new_tokens}")
        for size, rate in rates.items():
            ratio = f"  {rate / base:.2f}x vs batch size 1" if base else ""
            print(f"batch size {size:3d}: {rate:7.2f} items/s{ratio}")


if __name__ == "__main__":
    main()
