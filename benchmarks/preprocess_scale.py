"""Preprocess at TVQA scale: a generated root of 2,000 clips laid out as TVQA ships today (flat
``data/`` QA files, one ``tvqa_preprocessed_subtitles.jsonl``), timed and memory-profiled against
merely reading the same files.

    .venv/bin/python benchmarks/preprocess_scale.py               # 2,000 clips
    .venv/bin/python benchmarks/preprocess_scale.py --clips 20000
    .venv/bin/python benchmarks/preprocess_scale.py --clips 200 --bad-lines 300000

``--bad-lines N`` appends N malformed QA lines (half not JSON, half with ``"ts": [null, 1]``): each is a
recorded reject, so preprocess's cost per bad line shows against merely reading it.

Every clip gets 7 questions (TVQA's average) and 24 speaker-tagged cues over 85 s; its media is one
90 s mp4 hard-linked under every clip name, so the run measures the readers and the stage, not a
video encoder. Each measurement runs in a fresh subprocess: ``read`` json-parses every line of the QA
and subtitle files; ``read+probe`` also opens every clip's mp4 the way preprocess does (PyAV, for the
duration); ``preprocess`` is the build's stage 1 (``--until preprocess``). Printed: seconds and peak
RSS of one run, peak Python heap (tracemalloc, imports excluded) of a second, and preprocess's
ratios against both baselines.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SHOWS = (("friends", "Friends"), ("castle", "Castle"), ("house", "House M.D."), ("met", "How I Met You Mother"))
NAMES = ("Ann", "Bo", "Cy", "Dee", "Eli")

CHILD = r"""
import json, resource, sys, time, tracemalloc
from pathlib import Path
from builder.config import BuildConfig
from builder.pipeline import run_build
from builder.tvqa import probe_duration
mode, root, out, traced = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "heap"
if traced:
    tracemalloc.start()
started = time.perf_counter()
if mode == "preprocess":
    report = run_build(BuildConfig(tvqa_root=root, out=out, progress=False), until="preprocess")
    kept = report["stages"][0]["outputs"]
else:
    kept = 0
    for path in sorted((root / "data").glob("*.jsonl")):
        with open(path, "rb") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if mode == "read+probe" and "sub" in record:
                    probe_duration(root / "videos" / f"{record['vid_name']}.mp4")
                kept += "sub" in record
seconds = time.perf_counter() - started
_, heap = tracemalloc.get_traced_memory()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "heap_mib": heap / 2**20, "rss_mib": rss, "clips": kept}))
"""


def tiny_mp4(path: Path, seconds: float = 90.0) -> None:
    from builder.tvqa.media import SAMPLING_RATE, encode_mp4

    frames = (np.full((48, 64, 3), (i * 7) % 255, dtype=np.uint8) for i in range(int(seconds * 3)))
    encode_mp4(path, frames, 3.0, np.zeros(int(seconds * SAMPLING_RATE), dtype=np.float32))


def generate_root(root: Path, clips: int, bad_lines: int = 0) -> None:
    (root / "data").mkdir(parents=True)
    (root / "videos").mkdir()
    master = root / "master.mp4"
    tiny_mp4(master)
    qa = open(root / "data" / "tvqa_train.jsonl", "w", encoding="utf-8")
    subs = open(root / "data" / "tvqa_preprocessed_subtitles.jsonl", "w", encoding="utf-8")
    qid = 0
    for n in range(clips):
        prefix, show = SHOWS[n % len(SHOWS)]
        vid = f"{prefix}_s{n // 400 + 1:02d}e{n // 20 % 20 + 1:02d}_seg{n // 10 % 2 + 1:02d}_clip_{n % 10:02d}"
        os.link(master, root / "videos" / f"{vid}.mp4")
        cues = []
        for k in range(24):
            start = 0.5 + k * 3.5
            off = " off" if k % 9 == 4 else ""
            text = f" {NAMES[k % 5]}{off} : line {k} of clip {n} , said with some words ." if k % 7 else f" words {k} ."
            cues.append({"text": text, "start": round(start, 3), "end": round(start + 3.0, 3)})
        subs.write(json.dumps({"vid_name": vid, "sub": cues}) + "\n")
        for _ in range(7):
            row = {"qid": qid, "q": "Who speaks first?", **{f"a{i}": NAMES[i] for i in range(5)}}
            qa.write(json.dumps({**row, "answer_idx": qid % 5, "ts": "1.0-9.5", "vid_name": vid, "show_name": show}))
            qa.write("\n")
            qid += 1
    for n in range(bad_lines):
        row = {
            "qid": qid + n,
            "q": "Who?",
            **{f"a{i}": NAMES[i] for i in range(5)},
            "vid_name": "friends_s01e01_seg01_clip_00",
        }
        qa.write('{"qid": ' + str(n) + ', "q": "Who\n' if n % 2 else json.dumps({**row, "ts": [None, 1]}) + "\n")
    qa.close()
    subs.close()
    master.unlink()


def measure(mode: str, root: Path, out: Path) -> dict:
    """Seconds and peak RSS from one run, peak heap from a second one under tracemalloc (which slows it)."""
    timed = _child(mode, root, out / "timed", "time")
    traced = _child(mode, root, out / "traced", "heap")
    return {**timed, "heap_mib": traced["heap_mib"]}


def _child(mode: str, root: Path, out: Path, what: str) -> dict:
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(root), str(out), what],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--bad-lines", type=int, default=0, help="malformed QA lines to append")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tvqa"
        generate_root(root, args.clips, args.bad_lines)
        size = sum(p.stat().st_size for p in (root / "data").iterdir()) / 2**20
        results = {
            mode: measure(mode, root, Path(tmp) / f"out-{mode}") for mode in ("read", "read+probe", "preprocess")
        }
    bad = f" + {args.bad_lines} malformed lines" if args.bad_lines else ""
    print(f"{args.clips} clips, {args.clips * 7} questions{bad}, {size:.1f} MiB of QA + subtitle jsonl")
    print(f"{'run':>11} {'clips':>6} {'seconds':>8} {'peak heap MiB':>14} {'peak RSS MiB':>13}")
    for mode, r in results.items():
        print(f"{mode:>11} {r['clips']:>6} {r['seconds']:>8.2f} {r['heap_mib']:>14.2f} {r['rss_mib']:>13.1f}")
    pre = results["preprocess"]
    for base in ("read", "read+probe"):
        b = results[base]
        print(
            f"preprocess / {base}: time {pre['seconds'] / b['seconds']:.2f}, "
            f"peak heap {pre['heap_mib'] / b['heap_mib']:.2f}, peak RSS {pre['rss_mib'] / b['rss_mib']:.2f}"
        )


if __name__ == "__main__":
    main()
