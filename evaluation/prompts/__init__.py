"""Versioned prompt templates of the evaluation (Jinja) and the in-context examples (YAML)."""
