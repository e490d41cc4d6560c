"""Generated samples larger than the embedded one, built with the scripted backend, as
``crossomni build --sample --clips N --seed S`` builds them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builder.config import BuildConfig
from builder.pipeline import run_build
from builder.sample.generate import generate_sample_tvqa, sample_spec, write_spec


def build_generated(work: Path, clips: int, seed: int) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """Generate a ``clips``-clip sample TVQA root under ``work`` and build it: (build folder, report, spec)."""
    spec = sample_spec(clips, seed=seed)
    root = generate_sample_tvqa(work / "tvqa", spec=spec)
    config = BuildConfig(
        tvqa_root=root,
        out=work / "build",
        backend="scripted",
        backend_options={"spec_path": str(write_spec(spec, root))},
        seed=seed,
        progress=False,
    )
    return work / "build", run_build(config), spec
