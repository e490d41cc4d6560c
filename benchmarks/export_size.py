"""Size and time of ``crossomni export`` on the embedded sample, against the media it holds.

    python benchmarks/export_size.py [--runs 3]
    python benchmarks/export_size.py --clips 40     # a generated sample of 40 distinct clips instead

Prints the embed export's bytes against the bytes of the distinct clips the release references
(goal, issue 14: <= 1.5x media + 1 MiB), and the export's median time (each run in a fresh
interpreter, so imports count) against the reference-mode export of the same release, with
whether torch was imported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO / "builder" / "sample" / "release"
RUN = """
import json, sys, time
start = time.perf_counter()
from builder.export import export_release
export_release(sys.argv[1], sys.argv[2], tvqa_root=sys.argv[3], media=sys.argv[4])
print(json.dumps({"seconds": time.perf_counter() - start, "torch": "torch" in sys.modules}))
"""


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def export_once(release: Path, out: Path, root: Path, media: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(release), str(out), str(root), media],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clips", type=int, help="Build a generated sample of N distinct clips and export that.")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    import crossomni
    from builder.clip_probe import stream_copy
    from builder.sample.generate import generate_sample_tvqa

    with tempfile.TemporaryDirectory() as tmp:
        release = RELEASE
        if args.clips:
            build = Path(tmp) / "build"
            command = [sys.executable, "-m", "crossomni_cli", "build", "--sample", "--clips", str(args.clips)]
            subprocess.run([*command, "--out", str(build), "--no-progress"], cwd=REPO, check=True, capture_output=True)
            release, root = build / "release", build / "sample_tvqa"
        else:
            root = generate_sample_tvqa(Path(tmp) / "tvqa")
        clips = crossomni.read_clips(release)
        media = {root / c.video for c in clips.values()} | {root / c.audio for c in clips.values()}
        media_bytes = sum(path.stat().st_size for path in media)
        runs = {
            mode: [export_once(release, Path(tmp) / mode, root, mode) for _ in range(args.runs)]
            for mode in ("embed", "reference")
        }
        embed_bytes = folder_bytes(Path(tmp) / "embed")
        parquet_bytes = sum(path.stat().st_size for path in (Path(tmp) / "embed").rglob("*.parquet"))
        # what the `audio` column adds: the clip's own track copied out (the clip itself is in `video`)
        track_bytes = sum(len(stream_copy(str(root / c.video), "audio")) for c in clips.values() if c.audio == c.video)
        shards = len(list((Path(tmp) / "embed").rglob("*.parquet")))
        rows = sum(1 for split in crossomni.SPLITS for _ in crossomni.read_instances(release, split, clips))
    goal = 1.5 * media_bytes + 2**20
    seconds = {mode: statistics.median(r["seconds"] for r in results) for mode, results in runs.items()}
    print(f"media: {len(media)} distinct clip files, {media_bytes / 1e6:.3f} MB; {rows} rows in {shards} embed shards")
    print(
        f"embed export: {embed_bytes / 1e6:.3f} MB = {embed_bytes / media_bytes:.2f}x media "
        f"(goal <= {goal / 1e6:.3f} MB)"
    )
    print(
        f"embed parquet: {parquet_bytes / 1e6:.3f} MB = {parquet_bytes / (media_bytes + track_bytes):.2f}x "
        f"(media + the audio tracks the `audio` column copies out, {track_bytes / 1e6:.3f} MB): each clip once"
    )
    print(
        f"embed export bytes per row: {embed_bytes / rows / 1e3:.1f} kB; "
        f"mean clip {media_bytes / len(media) / 1e3:.1f} kB"
    )
    print(
        f"export time (median of {args.runs}, fresh interpreter): embed {seconds['embed']:.2f} s, reference "
        f"{seconds['reference']:.2f} s, ratio {seconds['embed'] / seconds['reference']:.2f}x; torch imported: "
        f"{any(r['torch'] for results in runs.values() for r in results)}"
    )


if __name__ == "__main__":
    main()
