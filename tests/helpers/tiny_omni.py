"""The tiny random Qwen2.5-Omni thinker of ``model_calls.tiny_omni`` as a session fixture, and training overrides.

In a test file: ``from tests.helpers.tiny_omni import tiny_omni_dir  # noqa: F401`` (it is also imported
by ``tests/conftest.py``), then take ``tiny_omni_dir`` as an argument.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from model_calls.tiny_omni import MAX_PIXELS, MIN_PIXELS, TINY_VIDEOS_KWARGS, build_tiny_omni

__all__ = ["MAX_PIXELS", "MIN_PIXELS", "TINY_TRAINING_ARGS", "TINY_VIDEOS_KWARGS", "build_tiny_omni", "tiny_omni_dir"]


@pytest.fixture(scope="session")
def tiny_omni_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny Qwen2.5-Omni thinker + processor folder (built once per session)."""
    return build_tiny_omni(tmp_path_factory.mktemp("tiny_omni"))


# Recipe overrides that keep a training run on the tiny model small and CPU-only (TrlParser syntax).
TINY_TRAINING_ARGS: list[str] = [
    "--video_fps", "1",
    "--max_frames", "8",
    "--video_min_pixels", str(MIN_PIXELS),
    "--video_max_pixels", str(MAX_PIXELS),
    "--bf16", "false",
    "--use_cpu", "true",
    "--activation_checkpointing", "false",
    "--report_to", "none",
    "--save_strategy", "no",
    "--logging_steps", "1",
    "--seed", "0",
]  # fmt: skip
