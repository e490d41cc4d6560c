"""Garbage in: `crossomni build` with the ``transformers`` backend on a tiny random omni model
(junk replies) finishes, records every failed reply with its raw text, and writes a valid
(here empty) release and a report. Each model stage is also fed valid inputs (from a replay
build) and junk replies, so every stage's failure path is exercised."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import crossomni
from builder.config import BuildConfig, ModelsConfig
from builder.pipeline import STAGE_NAMES, run_build
from model_calls.outputs import claim_output_dir
from model_calls.store import iter_records

pytestmark = pytest.mark.slow


def junk_config(root: Path, out: Path, tiny: Path, **overrides) -> BuildConfig:
    models = out.parent / f"{out.name}-models.yaml"
    role = f"{{model: {tiny}, batch_size: 8, sampling: {{temperature: 0.0, max_tokens: 12}}}}"
    models.write_text(f"roles:\n  caption: {role}\n  text: {role}\n  voice: {role}\n", encoding="utf-8")
    return BuildConfig(
        tvqa_root=root,
        out=out,
        backend="transformers",
        backend_options={"batch_size": 8},
        models=ModelsConfig.load(models),
        progress=False,
        **overrides,
    )


def failures(out: Path, stage: str) -> list[dict]:
    return [
        r
        for r in iter_records(out / "stages" / f"{stage}.rejects.jsonl")
        if r["reason"] in ("unparseable-reply", "model-error")
    ]


def test_whole_build_on_a_random_model_gives_an_empty_valid_release(sample_tvqa_root, tiny_omni_dir, tmp_path) -> None:
    out = tmp_path / "junk"
    report = run_build(junk_config(sample_tvqa_root, out, tiny_omni_dir))
    caption = next(s for s in report["stages"] if s["name"] == "caption")
    assert caption["requests"] == 12 + 4 and len(failures(out, "caption")) == 16  # segments + whole clips
    assert caption["reasons"]["no-captions"] == 4  # every clip dropped, each with its reason
    # the tiny model saw each segment's frames and answered junk: every reply kept raw beside its failure
    assert {r["reason"] for r in failures(out, "caption")} == {"unparseable-reply"}
    assert all(r["raw"] is not None for r in failures(out, "caption"))
    clips = crossomni.read_clips(out / "release")
    assert clips == {} and [list(crossomni.read_instances(out / "release", s, clips)) for s in crossomni.SPLITS] == [
        [],
        [],
    ]
    assert (out / "report.md").is_file() and report["release"] == {"clips": 0, "train": 0, "test": 0}


@pytest.fixture(scope="module")
def replayed(sample_tvqa_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("replayed")
    run_build(BuildConfig(tvqa_root=sample_tvqa_root, out=out, backend="replay", qa_generator="llm", progress=False))
    return out


@pytest.mark.parametrize("stage", ["describe", "voice", "biography", "qa", "verify", "rationale"])
def test_each_model_stage_records_every_junk_reply(replayed, sample_tvqa_root, tiny_omni_dir, tmp_path, stage) -> None:
    out = claim_output_dir(tmp_path / "build", "build")  # a build folder, seeded with the finished stages
    (out / "stages").mkdir(parents=True)
    for earlier in STAGE_NAMES[: STAGE_NAMES.index(stage)]:
        for path in (replayed / "stages").glob(f"{earlier}.*"):
            shutil.copy(path, out / "stages" / path.name)
    report = run_build(junk_config(sample_tvqa_root, out, tiny_omni_dir, qa_generator="llm"))
    stats = next(s for s in report["stages"] if s["name"] == stage)
    assert stats["requests"] > 0 and not stats["skipped"]
    recorded = failures(out, stage)
    assert len(recorded) == stats["requests"]  # every reply failed to parse, and each one is on record
    junk = [r for r in recorded if r["reason"] == "unparseable-reply"]
    assert junk and all(r["raw"] is not None for r in junk)  # the raw junk is kept beside the failure
    clips = crossomni.read_clips(out / "release")
    splits = {s for s in crossomni.SPLITS for _ in crossomni.read_instances(out / "release", s, clips)}
    assert splits == ({"test"} if stage == "rationale" else set())  # test instances need no rationale
    assert (out / "report.json").is_file()
