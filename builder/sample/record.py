"""Re-record the sample's replay file from the scripted (spec-derived) source, for both QA generators,
and regenerate the shipped release from it.

    python -m builder.sample.record            # writes builder/sample/replay/sample.jsonl and release/

Run it after changing a prompt, a reply schema, a stage or the sample spec: the replay file is the
stand-in for the real models on the sample, keyed by request, so changed requests need new
recordings; the release under ``builder/sample/release`` is what the template build of the sample
writes from those recordings (its instances are then checked against the spec by the tests).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from builder.sample import SAMPLE_NAME, SAMPLE_REPLAY

SAMPLE_RELEASE = SAMPLE_REPLAY.parent.parent / "release"
RELEASE_HEADER = {
    "name": SAMPLE_NAME,
    "description": "Hand-checked release of the embedded synthetic sample (builder/sample): generated clips in "
    "TVQA's file format; it contains no TVQA data.",
    "source": "builder/sample/spec.yaml",
    "synthetic": True,
}


def record_sample_replay(path: Path = SAMPLE_REPLAY) -> Path:
    from builder.config import BuildConfig
    from builder.pipeline import run_build
    from builder.sample.generate import generate_sample_tvqa

    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = generate_sample_tvqa(Path(tmp) / "tvqa")
        for qa in ("template", "llm"):
            config = BuildConfig(
                tvqa_root=root, out=Path(tmp) / qa, backend="scripted", qa_generator=qa, progress=False
            )
            run_build(config, record=path)
    return path


def regenerate_sample_release(target: Path = SAMPLE_RELEASE) -> Path:
    """Build the sample from its recordings and store the release (with its shortcut audit) at ``target``."""
    from builder.config import BuildConfig
    from builder.pipeline import run_build
    from builder.sample.generate import generate_sample_tvqa

    with tempfile.TemporaryDirectory() as tmp:
        root = generate_sample_tvqa(Path(tmp) / "tvqa")
        config = BuildConfig(tvqa_root=root, out=Path(tmp) / "build", backend="replay", progress=False)
        run_build(config)
        built = json.loads((config.release_dir / "release.json").read_text(encoding="utf-8"))
        target.mkdir(parents=True, exist_ok=True)
        for name in ("clips.jsonl", "train.jsonl", "test.jsonl"):
            shutil.copyfile(config.release_dir / name, target / name)
        keep = {k: built[k] for k in ("format", "version", "media")}
        recorded = {key: built[key] for key in ("counts", "answered_by", "shortcut_audit")}
        manifest = {**keep, **RELEASE_HEADER, **recorded}
        (target / "release.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return target


if __name__ == "__main__":
    print(f"recorded {record_sample_replay()}")
    print(f"release written to {regenerate_sample_release()}")
