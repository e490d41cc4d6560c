"""The build stages, in order: preprocess, caption, describe, biography, voice, align, qa, verify,
split, rationale, then the release writer and the report."""
