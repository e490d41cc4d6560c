"""Shared fixtures: offline Hub, the generated sample TVQA root and its annotation release."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.tiny_omni import tiny_omni_dir  # noqa: F401  (shared tiny Qwen2.5-Omni fixture)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RELEASE = REPO / "builder" / "sample" / "release"


@pytest.fixture(scope="session")
def sample_tvqa_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded sample in TVQA's format, generated once per test session."""
    from builder.sample.generate import generate_sample_tvqa

    return generate_sample_tvqa(tmp_path_factory.mktemp("sample_tvqa"))


@pytest.fixture(scope="session")
def sample_release() -> Path:
    """The hand-checked CrossOmni annotation release of the sample (reference media)."""
    return SAMPLE_RELEASE


@pytest.fixture(scope="session")
def sample_dataset(sample_tvqa_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """The sample as a ``DatasetDict`` (config ``all``) built by the ``CrossOmni`` builder."""
    import crossomni

    builder = crossomni.CrossOmni(
        config_name="all",
        release_dir=str(SAMPLE_RELEASE),
        data_dir=str(sample_tvqa_root),
        cache_dir=str(tmp_path_factory.mktemp("hf_cache")),
    )
    builder.download_and_prepare()
    return builder.as_dataset()
