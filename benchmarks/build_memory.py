"""Peak memory of `crossomni build` at 1x and 10x the embedded sample: records stream through the
stages, so peak memory should not grow with the number of clips.

    .venv/bin/python benchmarks/build_memory.py            # scales 1 and 10
    .venv/bin/python benchmarks/build_memory.py --scales 1 10 30
    .venv/bin/python benchmarks/build_memory.py --copies    # 10x = the 1x clips ten times (identical requests)

Each scale is a generated TVQA root of ``CLIPS_PER_SCALE * scale`` distinct clips (different people,
names, clothes, positions, voices and lines: ``builder.sample.generate.sample_spec``, with real
generated media), built in a fresh subprocess with the ``scripted`` backend (the generated spec
answering as the models). Prints, per scale: clips, instances, requests, cache hits, seconds, peak
RSS of the process, and peak Python heap (tracemalloc) during the build; then the 10x/1x ratios.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time, tracemalloc
from pathlib import Path
from builder.config import BuildConfig
from builder.pipeline import run_build
from builder.sample.scripted import ScriptedBackend
from model_calls import CachedBackend, ResponseCache
spec = json.loads(Path(sys.argv[1]).read_text())
root, out = Path(sys.argv[2]), Path(sys.argv[3])
config = BuildConfig(tvqa_root=root, out=out, backend="scripted", progress=False)
backend = CachedBackend(ScriptedBackend(spec=spec), ResponseCache(out / "cache.sqlite"))
tracemalloc.start()
started = time.perf_counter()
report = run_build(config, backend=backend)
seconds = time.perf_counter() - started
_, heap_peak = tracemalloc.get_traced_memory()
release = report["release"]
print(json.dumps({"clips": release["clips"], "instances": release["train"] + release["test"],
                  "seconds": seconds, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "heap_mib": heap_peak / 2**20, "requests": report["model_calls"]["requests"],
                  "misses": backend.misses, "duplicates": backend.duplicates,
                  "cache_hits": report["model_calls"]["cache_hits"]}))
"""


CLIPS_PER_SCALE = 4  # the shipped sample's usable clips


def scaled_spec(scale: int, seed: int = 0, copies: bool = False) -> dict:
    """A generated spec of ``CLIPS_PER_SCALE * scale`` distinct clips, or (``copies``) of the
    ``CLIPS_PER_SCALE`` clips of scale 1 each ``scale`` times, under other clip and episode names:
    the same media and lines, so identical model requests (what the cache's in-batch dedup is for)."""
    from builder.sample.generate import sample_spec

    if not copies:
        return sample_spec(CLIPS_PER_SCALE * scale, seed)
    spec = sample_spec(CLIPS_PER_SCALE, seed)
    clips = []
    for copy in range(scale):
        for clip in spec["clips"]:
            clips.append({**clip, "vid_name": re.sub(r"s\d\de\d\d", f"s{10 + copy:02d}e01", clip["vid_name"], count=1)})
    return {**spec, "clips": clips, "train_episodes": sorted({c["vid_name"].split("_seg")[0] for c in clips})[::2]}


def run_scale(scale: int, workdir: Path, copies: bool = False) -> dict:
    from builder.sample.generate import generate_sample_tvqa

    spec = scaled_spec(scale, copies=copies)
    spec_path = workdir / f"spec{scale}.json"
    spec_path.write_text(json.dumps(spec))
    root = generate_sample_tvqa(workdir / f"tvqa{scale}", spec=spec)
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(spec_path), str(root), str(workdir / f"out{scale}")],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--copies", action="store_true", help="Scale by copying the 1x clips (identical requests).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {scale: run_scale(scale, Path(tmp), args.copies) for scale in args.scales}
    header = ("scale", "clips", "instances", "requests", "cache hits", "seconds", "peak RSS MiB", "peak heap MiB")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (5, 6, 9, 8, 10, 8, 12, 13), strict=True)))
    for scale, r in results.items():
        print(
            f"{scale:>5} {r['clips']:>6} {r['instances']:>9} {r['requests']:>8} {r['cache_hits']:>10} "
            f"{r['seconds']:>8.2f} {r['rss_mib']:>12.1f} {r['heap_mib']:>13.2f}  cache misses (requests sent) "
            f"{r['misses']}, repeats within a batch answered once {r['duplicates']}"
        )
    low, high = min(results), max(results)
    if high != low:
        a, b = results[low], results[high]
        print(
            f"ratio {high}x/{low}x: clips {b['clips'] / a['clips']:.1f}, peak RSS {b['rss_mib'] / a['rss_mib']:.3f}, "
            f"peak heap {b['heap_mib'] / a['heap_mib']:.3f}"
        )


if __name__ == "__main__":
    main()
