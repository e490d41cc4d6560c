"""Media prepared ahead of the model calls (``model_calls.prefetch``): requests name the clip's own file,
so their keys need no decoding; what the workers prepare is exactly what a backend would sample itself,
with one decoder per clip; a build that prefetches writes the release one that does not writes, its
backend decodes nothing itself; and a warm rebuild decodes no media at all."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from builder.config import BuildConfig
from builder.pipeline import run_build
from builder.sample.scripted import ScriptedBackend
from builder.stages.caption import CaptionStage, caption_part
from builder.stages.voice import SPAN_GAP, VoiceStage
from model_calls import CachedBackend, ResponseCache
from model_calls import media as media_module
from model_calls.base import ModelRequest, ModelResponse
from model_calls.media import DECODES, decode_count, part_audio, prepare_parts, provide, sample_segment, withdraw
from model_calls.omni_inputs import sample_messages
from model_calls.prefetch import media_parts
from model_calls.presets import input_preset
from model_calls.store import CompletionLog, iter_records

CLIP = "friends_s01e01_seg02_clip_14"
RELEASE_FILES = ("clips.jsonl", "train.jsonl", "test.jsonl")


class MediaReading(ScriptedBackend):
    """The sample's scripted replies, from a backend that samples every media part in this process
    the way the local engines do (``model_calls.omni_inputs.sample_messages``) before it answers."""

    name = "media-reading"
    reads_media = True

    def generate(self, requests: Sequence[ModelRequest]) -> list[ModelResponse]:
        for request in requests:
            sample_messages(request.messages, input_preset("generic"))
        return super().generate(requests)


def _fresh() -> None:
    media_module._memo.cache_clear()
    media_module._track.cache_clear()


def test_prepared_media_are_what_the_sampler_gives_with_one_decoder_per_clip(sample_tvqa_root: Path) -> None:
    video = str(sample_tvqa_root / "videos" / f"{CLIP}.mp4")
    preset = input_preset("caption")
    parts = [caption_part(video, preset, s, e, 2) for s, e in ((0.5, 2.9), (3.2, 5.4), (5.7, 7.8))]
    parts.append(caption_part(video, preset, 0.0, 8.0, 8))
    parts += [
        {"type": "audio", "audio": video, "spans": [[0.5, 2.9], [5.7, 7.8]], "gap": SPAN_GAP},
        {"type": "audio", "audio": video, "spans": [[3.2, 5.4]], "gap": SPAN_GAP},
    ]
    _fresh()
    before = DECODES.copy()
    entries = prepare_parts(parts, input_preset("generic"))
    assert len(entries) == len(parts)
    assert DECODES["opened"] - before["opened"] == 1  # one video decoder served the four segments
    assert DECODES["audio"] - before["audio"] == 1  # one decode of the soundtrack served both speakers
    provide(entries)
    try:
        got = [_sampled(part) for part in parts]
        assert all(any(value is prepared for _, prepared in entries) for value in got)  # handed over, not decoded
    finally:
        withdraw(key for key, _ in entries)
    _fresh()
    counted = decode_count()
    for part, value in zip(parts, got, strict=True):  # what the backend samples when nothing was prepared
        own = _sampled(part)
        if part["type"] == "video":
            assert (own.times, own.fps, own.start, own.end) == (value.times, value.fps, value.start, value.end)
            assert own.audio is None and np.array_equal(own.frames, value.frames)
        else:
            assert np.array_equal(own, value)
    assert decode_count() > counted


def _sampled(part: dict):
    from model_calls.media import Segment, part_preset

    if part["type"] == "video":
        return sample_segment(part["video"], Segment.of(part), part_preset(part, input_preset("generic")))
    return part_audio(part, 16_000)


@pytest.fixture(scope="module")
def preprocessed(sample_tvqa_root: Path, tmp_path_factory: pytest.TempPathFactory) -> BuildConfig:
    config = BuildConfig(
        tvqa_root=sample_tvqa_root, out=tmp_path_factory.mktemp("pre"), backend="replay", progress=False
    )
    run_build(config, until="biography")
    return config


def test_requests_name_the_clip_and_their_keys_decode_nothing(preprocessed: BuildConfig, tmp_path: Path) -> None:
    def record(stage: str) -> dict:
        return next(r for r in iter_records(preprocessed.stages_dir / f"{stage}.jsonl") if r["clip_id"] == CLIP)

    clip = record("biography")
    video = str(preprocessed.tvqa_root / clip["video"])
    counted = decode_count()
    captions, voices = (
        CaptionStage(preprocessed).requests(record("preprocess")),
        VoiceStage(preprocessed).requests(clip),
    )
    keys = {request.key() for request in [*captions, *voices]}
    assert decode_count() == counted and len(keys) == len(captions) + len(voices)
    first = media_parts(captions[0])[0]
    segment = clip["segments"][0]
    assert (first["video"], first["start"], first["end"], first["max_frames"]) == (
        video,
        segment["start"],
        segment["end"],
        preprocessed.frames_per_segment,
    )
    spans = [media_parts(request)[0] for request in voices]
    assert {part["audio"] for part in spans} == {video}
    assert sorted(tuple(w) for part in spans for w in part["spans"]) == sorted(
        (s["start"], s["end"]) for s in clip["segments"] if s["speaker"] in {p["name"] for p in clip["people"]}
    )
    # nothing is cut out of the clip: no intermediate media in the build folder
    assert not (preprocessed.out / "work").exists()
    # a clip that went missing since preprocess is that item's error (the runner records it), not a crash
    moved = preprocessed.out / "moved"
    missing = {**record("preprocess"), "video": "gone/x.mp4", "audio": "gone/x.mp4", "media": "derived"}
    with pytest.raises(FileNotFoundError):
        CaptionStage(BuildConfig(tvqa_root=moved, out=moved)).requests(missing)


def _build(root: Path, out: Path, workers: int, cache: Path | None = None) -> dict:
    config = BuildConfig(tvqa_root=root, out=out, backend="scripted", progress=False, media_workers=workers)
    # The cache lies beside the build folder: a folder holding files the build did not write is refused.
    backend = CachedBackend(MediaReading(), ResponseCache(cache or out.with_suffix(".sqlite")))
    counted = decode_count()
    report = run_build(config, backend=backend)
    report["decoded_here"] = decode_count() - counted
    return report


@pytest.fixture(scope="module")
def builds(sample_tvqa_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    base = tmp_path_factory.mktemp("prefetch")
    _fresh()
    out = {
        "ahead": (base / "ahead", _build(sample_tvqa_root, base / "ahead", workers=1)),
        "inline": (base / "inline", _build(sample_tvqa_root, base / "inline", workers=0)),
    }
    _fresh()
    out["warm"] = (base / "warm", _build(sample_tvqa_root, base / "warm", 1, cache=base / "ahead.sqlite"))
    return out


def _stage(report: dict, name: str) -> dict:
    return next(s for s in report["stages"] if s["name"] == name)


def test_a_prefetching_build_writes_the_same_release_and_its_backend_decodes_nothing(builds) -> None:
    (ahead, with_workers), (inline, without) = builds["ahead"], builds["inline"]
    for name in RELEASE_FILES:
        assert (ahead / "release" / name).read_bytes() == (inline / "release" / name).read_bytes(), name
    assert without["decoded_here"] > 0  # inline: the backend decoded every part itself
    assert with_workers["decoded_here"] == 0  # ahead: every part it read had been decoded by a worker
    for name in ("caption", "voice"):
        assert _stage(with_workers, name)["media_cpu_seconds"] > 0 and _stage(without, name)["media_cpu_seconds"] == 0
        assert _stage(with_workers, name)["requests"] == _stage(without, name)["requests"] > 0
        assert _stage(with_workers, name)["backend_calls"] == _stage(without, name)["backend_calls"]


def test_a_warm_rebuild_decodes_no_media(builds) -> None:
    (ahead, _), (warm, report) = builds["ahead"], builds["warm"]
    assert report["decoded_here"] == 0
    for name in ("caption", "voice"):
        stage = _stage(report, name)
        assert stage["backend_calls"] == 0 and stage["cache_hits"] == stage["requests"] > 0
        assert stage["media_cpu_seconds"] == 0  # no worker was asked to decode anything
    for name in RELEASE_FILES:
        assert (warm / "release" / name).read_bytes() == (ahead / "release" / name).read_bytes(), name


def test_completion_log_fsyncs_once_a_batch_and_loses_nothing_before(tmp_path: Path, monkeypatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    path = tmp_path / "stage.log.jsonl"
    log = CompletionLog(path, sync_every=4)
    for i in range(10):
        log.record(str(i), [{"x": i}], [])
    assert len(synced) == 2  # after items 4 and 8, not after each
    # every recorded item is in the file already (a killed process loses none of them)
    reopened = CompletionLog(path)
    assert reopened.done == {str(i) for i in range(10)}
    reopened.close()
    log.sync()
    log.sync()  # nothing new since: no second fsync
    assert len(synced) == 3
    log.record("10", [], [])
    log.close()
    assert len(synced) == 4


def test_frame_folders_are_muxed_ahead_in_order_and_a_failed_job_is_left_to_the_stage(tmp_path: Path) -> None:
    import soundfile as sf
    from PIL import Image

    from builder.stages.preprocess import mux_ahead

    jobs = {}
    for name, count in (("a", 6), ("b", 0), ("c", 6)):  # b: no frames, its mux fails in the worker
        frames = tmp_path / "frames" / name
        frames.mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((48, 64, 3), 40 * i, dtype=np.uint8)).save(frames / f"{i + 1:05d}.jpg")
        sf.write(tmp_path / f"{name}.wav", np.zeros(32_000, dtype=np.float32), 16_000)
        jobs[name] = (frames, tmp_path / f"{name}.wav", tmp_path / "media" / f"{name}.mp4", 3.0)

    class Stage:
        def mux_job(self, item: dict) -> tuple | None:
            return jobs.get(item["vid_name"])

    items = [(name, {"vid_name": name}) for name in ("a", "b", "x", "c")]  # x: an mp4 clip, nothing to mux
    seen = []
    for item_id, _ in mux_ahead(Stage(), iter(items), workers=1):
        seen.append((item_id, (tmp_path / "media" / f"{item_id}.mp4").is_file()))
    assert seen == [("a", True), ("b", False), ("x", False), ("c", True)]
