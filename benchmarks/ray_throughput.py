"""Throughput of the ``ray`` backend: 1 vs 2 actors, and its overhead at 1 actor against the direct backend.

    .venv/bin/python benchmarks/ray_throughput.py [--max-new-tokens 16] [--copies 16] [--repeats 3]

Same requests for every variant: the sample's 36 items with frames + audio track, ``--copies`` times
(different seeds, so none is a duplicate), through the tiny Qwen2.5-Omni thinker with the
``transformers`` engine, one torch thread per engine. The Ray variants run on a local cluster
started once (its start-up is reported apart); each ``generate`` starts its actor pool (model load
included), as a builder stage does. Prints items/s (best of ``--repeats``) and the ratios.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

from eval_setup import prepare, timed_generate

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per engine: actors are the parallelism


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--copies", type=int, default=16)  # long enough that actor start-up is not all
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import ray
    import torch

    from evaluation.runner import EvalConfig, build_request, load_items
    from model_calls import get_backend

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir, dataset, options = prepare(work, args.max_new_tokens)
        requests = []
        for split in ("train", "test"):
            cfg = EvalConfig(model=str(model_dir), out=str(work / "probe"), split=split, **options)
            items = load_items(cfg, dataset, work / "media")
            requests += [build_request(item, cfg, cfg.input_config()) for item in items]
        requests = [
            dataclasses.replace(r, sampling={**r.sampling, "seed": copy})
            for copy in range(args.copies)
            for r in requests
        ]
        engine = {"model": str(model_dir), "max_new_tokens": args.max_new_tokens, "batch_size": 4}
        direct = get_backend("transformers", **engine)
        direct.generate(requests[:4])  # warm-up
        rates = {"direct": len(requests) / min(timed_generate(direct, requests) for _ in range(args.repeats))}
        tick = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        startup = time.perf_counter() - tick
        for replicas in (1, 2):
            backend = get_backend("ray", engine="transformers", replicas=replicas, **engine)
            rates[f"ray x{replicas}"] = len(requests) / min(
                timed_generate(backend, requests) for _ in range(args.repeats)
            )
        ray.shutdown()
    print(f"requests: {len(requests)}  max new tokens: {args.max_new_tokens}  ray start-up (once): {startup:.1f} s")
    for name, rate in rates.items():
        print(f"{name:>8}: {rate:7.2f} items/s")
    print(f"2 actors vs 1 actor: {rates['ray x2'] / rates['ray x1']:.2f}x throughput")
    print(f"ray at 1 actor vs direct backend: {rates['direct'] / rates['ray x1']:.2f}x time per item (overhead)")


if __name__ == "__main__":
    main()
