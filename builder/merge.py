"""Merge the releases of a sharded build (``crossomni build --shard i/n`` on each node) into one.

    python -m builder.merge OUT SHARD_RELEASE [SHARD_RELEASE ...]

Shards own whole episodes, so the merge is a concatenation of ``clips.jsonl``, ``train.jsonl``
and ``test.jsonl``; it refuses shards that share a clip or an instance id, or disagree on the
build settings other than the shard, and checks the result with ``crossomni``'s readers.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from builder.stages.release import check_release
from crossomni import SPLITS, ReleaseError, read_release_manifest
from model_calls.outputs import claim_output_dir
from model_calls.store import write_atomic, write_json_atomic


def merge_releases(shards: list[Path], out: Path) -> dict[str, Any]:
    if not shards:
        raise ValueError("give at least one shard release")
    manifests = [read_release_manifest(shard) for shard in shards]
    settings = [{k: v for k, v in m.get("build", {}).items() if k != "shard"} for m in manifests]
    if any(s != settings[0] for s in settings) or len({m["media"] for m in manifests}) != 1:
        raise ReleaseError("shards were built with different settings or media modes; merge only shards of one build")
    claim_output_dir(out, "merge", option="OUT", flag=None)  # new, empty or an earlier merge
    seen: dict[str, set[str]] = {"clips.jsonl": set(), **{f"{s}.jsonl": set() for s in SPLITS}}

    def lines(name: str, key: str) -> Any:
        for shard in shards:
            with open(shard / name, encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    value = json.loads(line)[key]
                    if value in seen[name]:
                        raise ReleaseError(f"{shard / name}:{number}: {key} {value!r} is in another shard too")
                    seen[name].add(value)
                    yield line if line.endswith("\n") else line + "\n"

    write_atomic(out / "clips.jsonl", lines("clips.jsonl", "clip_id"))
    for split in SPLITS:
        write_atomic(out / f"{split}.jsonl", lines(f"{split}.jsonl", "id"))
    if manifests[0]["media"] == "embed":
        (out / "media").mkdir(parents=True, exist_ok=True)
        for shard in shards:
            for media in (shard / "media").glob("*"):
                shutil.copy2(media, out / "media" / media.name)
    counts: dict[str, Counter[str]] = {split: Counter() for split in SPLITS}
    for manifest in manifests:
        for split in SPLITS:
            counts[split].update(manifest.get("counts", {}).get(split, {}))
    manifest = {
        **manifests[0],
        "build": {**manifests[0].get("build", {}), "shard": f"merged from {len(shards)} shards"},
        "counts": {split: dict(sorted(c.items())) for split, c in counts.items()},
    }
    write_json_atomic(out / "release.json", manifest)
    check_release(out)
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for the merged release")
    parser.add_argument("shards", type=Path, nargs="+", help="the shard builds' release folders (OUT_i/release)")
    args = parser.parse_args()
    manifest = merge_releases(args.shards, args.out)
    total = {split: sum(manifest["counts"][split].values()) for split in SPLITS}
    print(f"merged {len(args.shards)} shards into {args.out}: {total}")


if __name__ == "__main__":
    main()
