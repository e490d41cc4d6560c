"""Shared set-up of the evaluation benchmarks: the tiny Qwen2.5-Omni thinker, the sample and its requests."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def prepare(workdir: Path, max_new_tokens: int):
    """Build the tiny model, the sample TVQA root and its ``all`` dataset; return (model_dir, dataset, cfg kwargs)."""
    import crossomni
    from builder.sample.generate import generate_sample_tvqa
    from tests.helpers.tiny_omni import MAX_PIXELS, MIN_PIXELS, build_tiny_omni

    model_dir = build_tiny_omni(workdir / "tiny_omni")
    root = generate_sample_tvqa(workdir / "sample_tvqa")
    builder = crossomni.CrossOmni(
        config_name="all",
        release_dir=str(REPO / "builder" / "sample" / "release"),
        data_dir=str(root),
        cache_dir=str(workdir / "hf_cache"),
    )
    builder.download_and_prepare()
    dataset = builder.as_dataset()
    options = {"fps": 1.0, "max_pixels": MAX_PIXELS, "min_pixels": MIN_PIXELS, "max_new_tokens": max_new_tokens}
    return model_dir, dataset, options


def clear_media_caches() -> None:
    """Forget decoded clips so every timed phase decodes its media itself."""
    from model_calls import media

    media._memo.cache_clear()


def timed_generate(backend, requests) -> float:
    """Seconds of one ``backend.generate(requests)``; every response must be a success."""
    import time

    start = time.perf_counter()
    responses = backend.generate(requests)
    assert all(r.ok for r in responses), [r.error for r in responses if not r.ok][:1]
    return time.perf_counter() - start
