"""Versioned prompt templates of the training recipes (the task prompt and the two judge rubrics)."""
