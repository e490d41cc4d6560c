"""The build stages, in order: preprocess, caption, describe, voice, biography, align, qa, verify,
split, rationale, then the release writer and the report."""
