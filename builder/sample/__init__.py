"""The embedded TVQA-format sample: generator, spec, hand-checked release and recorded replies."""

from pathlib import Path

# The recorded replies that stand in for the real models on the embedded sample.
SAMPLE_REPLAY = Path(__file__).resolve().parent / "replay" / "sample.jsonl"
# The release name of sample builds; their release.json says they are synthetic (no TVQA data).
SAMPLE_NAME = "crossomni-sample"
