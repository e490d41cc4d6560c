"""The embedded TVQA-format sample: generator, spec, hand-checked release and recorded replies."""

from pathlib import Path

# The recorded replies that stand in for the real models on the embedded sample.
SAMPLE_REPLAY = Path(__file__).resolve().parent / "replay" / "sample.jsonl"
