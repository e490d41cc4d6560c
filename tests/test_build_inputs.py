"""Real-world TVQA mess going through `crossomni build`: bad QA lines, malformed or overlapping
subtitles, too few speaker tags, and a clip given as TVQA frames + audio instead of an mp4."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import crossomni
from builder.config import BuildConfig
from builder.pipeline import run_build
from model_calls.store import iter_records

FRAMES_CLIP = "friends_s01e02_seg01_clip_03"


def _add_clip(root: Path, vid: str, show: str, srt: str, video_from: str | None) -> dict:
    (root / "tvqa_subtitles" / f"{vid}.srt").write_text(srt, encoding="utf-8")
    if video_from:
        shutil.copy(root / "videos" / f"{video_from}.mp4", root / "videos" / f"{vid}.mp4")
    return {
        "qid": 900,
        "q": "Who?",
        **{f"a{i}": str(i) for i in range(5)},
        "answer_idx": 0,
        "ts": "0.5-2.0",
        "vid_name": vid,
        "show_name": show,
    }


@pytest.fixture(scope="module")
def messy_root(sample_tvqa_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import decord
    from PIL import Image

    root = tmp_path_factory.mktemp("messy") / "tvqa"
    shutil.copytree(sample_tvqa_root, root)
    donor = "friends_s01e01_seg02_clip_14"
    rows = [
        _add_clip(
            root,
            "friends_s02e01_seg01_clip_01",
            "Friends",
            "1\n00:00:01,000 --> 00:00:03,000\n(Ross:) Hi.\n\n2\n00:00:02,000 --> 00:00:04,000\n(Rachel:) Hey.\n",
            donor,
        ),
        _add_clip(
            root,
            "friends_s02e02_seg01_clip_01",
            "Friends",
            "1\n00:00:01,000 --> 00:00:03,000\n(Ross:) Hi.\n\n2\n00:00:03,000 --> 00:00:04,000\nHey.\n\n"
            "3\n00:00:04,000 --> 00:00:05,000\nYo.\n",
            donor,
        ),
        _add_clip(
            root, "friends_s02e03_seg01_clip_01", "Friends", "1\n00:00:01,000 -> 00:00:03,000\n(Ross:) Hi.\n", donor
        ),
        _add_clip(
            root,
            "friends_s02e04_seg01_clip_01",
            "Friends",
            "1\n00:00:01,000 --> 00:00:03,000\n(Ross:) Hi.\n\n2\n00:00:07,000 --> 00:00:19,000\n(Ross:) Late.\n",
            donor,
        ),
    ]
    rows.append(
        _add_clip(
            root, "friends_s02e05_seg01_clip_01", "Friends", "1\n00:00:01,000 --> 00:00:03,000\n(Ross:) Hi.\n", None
        )
    )
    (root / "videos" / "friends_s02e05_seg01_clip_01.mp4").write_bytes(b"\x00garbage, not an mp4" * 50)
    with open(root / "tvqa_qa_release" / "tvqa_val.jsonl", "a", encoding="utf-8") as handle:
        handle.write("{broken json\n" + "".join(json.dumps(r) + "\n" for r in rows))
    # one clip as TVQA frames (3 fps) + a wav, no mp4
    mp4 = root / "videos" / f"{FRAMES_CLIP}.mp4"
    frames = root / "frames_hq" / "friends_frames" / FRAMES_CLIP
    frames.mkdir(parents=True)
    for i, frame in enumerate(decord.VideoReader(str(mp4)).get_batch(list(range(24))).asnumpy()):
        Image.fromarray(frame).save(frames / f"{i + 1:05d}.jpg", quality=95)
    from tests.helpers.tvqa_layouts import clip_wav

    clip_wav(mp4, root / "audio" / f"{FRAMES_CLIP}.wav")
    mp4.unlink()
    return root


@pytest.fixture(scope="module")
def messy_build(messy_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("messy_build")
    report = run_build(BuildConfig(tvqa_root=messy_root, out=out, backend="replay", progress=False))
    return out, report


def test_each_bad_input_is_dropped_with_its_reason(messy_build) -> None:
    out, report = messy_build
    rejects = {r["id"]: r for r in iter_records(out / "stages" / "preprocess.rejects.jsonl")}
    reasons = {key: r["reason"] for key, r in rejects.items()}
    assert reasons["friends_s02e01_seg01_clip_01"] == "discontinuous-timestamps"
    assert "cue 2 overlaps cue 1" in rejects["friends_s02e01_seg01_clip_01"]["detail"]
    assert reasons["friends_s02e02_seg01_clip_01"] == "few-speaker-names"
    assert reasons["friends_s02e03_seg01_clip_01"] == "bad-subtitles"
    assert "friends_s02e03_seg01_clip_01.srt:1: malformed SRT cue" in rejects["friends_s02e03_seg01_clip_01"]["detail"]
    assert reasons["friends_s02e04_seg01_clip_01"] == "discontinuous-timestamps"
    assert "after the clip" in rejects["friends_s02e04_seg01_clip_01"]["detail"]
    assert reasons["friends_s02e05_seg01_clip_01"] == "input-error"
    assert "friends_s02e05_seg01_clip_01.mp4" in rejects["friends_s02e05_seg01_clip_01"]["detail"]
    bad_line = [r for r in rejects.values() if r["reason"] == "bad-qa-line"]
    assert len(bad_line) == 1 and "tvqa_val.jsonl:8: not valid JSON" in bad_line[0]["detail"]
    counts = next(s for s in report["stages"] if s["name"] == "preprocess")["reasons"]
    assert sum(counts.values()) == len(rejects) == 8


def test_frames_clip_is_muxed_into_the_derived_media_root(messy_build, messy_root) -> None:
    out, report = messy_build
    release = out / "release"
    manifest = crossomni.read_release_manifest(release)
    assert (manifest["media"], manifest["media_root"]) == ("reference", "derived")
    clips = crossomni.read_clips(release)
    assert clips[FRAMES_CLIP].video == f"{FRAMES_CLIP}.mp4"
    # every clip (muxed, or linked from the TVQA mp4s) is under the build's media root, none in the release
    assert all((out / "media" / c.video).is_file() for c in clips.values())
    assert not (release / "media").exists()
    # the muxed clip's frames differ byte-wise from the mp4's, yet replay finds its replies by name
    tasks = {
        r["task_type"]
        for s in crossomni.SPLITS
        for r in crossomni.read_instances(release, s, clips)
        if r["clip_id"] == FRAMES_CLIP
    }
    assert tasks == set(crossomni.TASK_NAMES)
    assert report["model_calls"]["requests"] > 0 and not list(iter_records(out / "stages" / "caption.rejects.jsonl"))
