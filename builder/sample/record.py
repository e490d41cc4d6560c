"""Re-record the sample's replay file from the scripted (spec-derived) source, for both QA generators.

    python -m builder.sample.record            # writes builder/sample/replay/sample.jsonl

Run it after changing a prompt, a reply schema or the sample spec: the replay file is the stand-in
for the real models on the sample, keyed by request, so changed requests need new recordings.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from builder.sample import SAMPLE_REPLAY


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


if __name__ == "__main__":
    print(f"recorded {record_sample_replay()}")
