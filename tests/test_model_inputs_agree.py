"""Evaluation and training feed the model the same input for the same segment; audio-in-video reaches RoPE.

One sample instance goes through the transformers backend's input building (the request evaluation
builds for it), the SFT collator and the GRPO generation input. The frame times, the frames, the
pixel size per frame, the audio samples, the system prompt and the whole prompt's token ids must be
equal. Then: ``generate`` builds its 3-D positions with ``use_audio_in_video`` on, batches are
left-padded whatever the processor says, and a 75 s clip keeps all its audio with the real
checkpoint's feature-extractor limits.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.tiny_omni import MAX_PIXELS, MIN_PIXELS

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO / "builder" / "sample" / "release"
BASE_ID = "Qwen/Qwen2.5-Omni-3B"
# Qwen/Qwen2.5-Omni-{3B,7B} preprocessor_config.json: 300 s of audio (not Whisper's 30 s) per feature window.
REAL_FEATURE_LIMITS = {"chunk_length": 300, "n_samples": 4_800_000, "nb_max_frames": 30_000}


@pytest.fixture(scope="module")
def omni_dir(tiny_omni_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny thinker under a folder named like the family, so the family's preset and system prompt apply."""
    return Path(shutil.copytree(tiny_omni_dir, tmp_path_factory.mktemp("models") / "tiny-qwen2.5-omni"))


@pytest.fixture(scope="module")
def preset():
    from model_calls.presets import input_preset

    # the recipes' preset, with frames kept tiny-model sized (both sides get the same values)
    return input_preset("qwen2.5-omni-compact").with_overrides(max_frames=8, max_pixels=MAX_PIXELS)


@pytest.fixture(scope="module")
def backend(omni_dir: Path):
    from model_calls import get_backend

    return get_backend("transformers", model=str(omni_dir), batch_size=2, max_new_tokens=3)


@pytest.fixture(scope="module")
def train_row(sample_tvqa_root: Path, tmp_path_factory: pytest.TempPathFactory):
    from training.data import DataSource, load_split

    source = DataSource(
        release_dir=str(RELEASE), tvqa_root=str(sample_tvqa_root), cache_dir=str(tmp_path_factory.mktemp("d"))
    )
    return load_split(source)[0]


def eval_request(row, omni_dir: Path, preset, tmp_path: Path):
    """What ``crossomni eval`` sends for this row (same preset values, the default template, the family's system)."""
    from evaluation.items import Item
    from evaluation.runner import EvalConfig, build_request

    cfg = EvalConfig(
        model=str(omni_dir), out=str(tmp_path / "run"), input_preset="qwen2.5-omni-compact", max_frames=8,
        max_pixels=MAX_PIXELS,
    )  # fmt: skip
    assert cfg.input_config().preset.settings() == preset.settings()
    video = row["video"]["path"]
    item = Item(
        id=row["id"], question=row["question"], options=tuple(row["options"]), answer=row["answer"],
        task=row["task_name"], biography=row["biography"], video=video, audio=video, start=row["start"], end=row["end"],
    )  # fmt: skip
    return build_request(item, cfg, cfg.input_config())


class SampleSpy:
    """Record every segment the shared sampler hands out (the frame times, frames and audio of each call)."""

    def __init__(self, monkeypatch):
        import model_calls.omni_inputs as omni_inputs

        self.calls = []
        original = omni_inputs.sample_segment

        def spy(*args, **kwargs):
            sampled = original(*args, **kwargs)
            self.calls.append(sampled)
            return sampled

        monkeypatch.setattr(omni_inputs, "sample_segment", spy)


def assert_same_segment(a, b) -> None:
    assert a.times == b.times and len(a.times) > 2
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert a.fps == b.fps


def assert_same_model_input(eval_inputs, train_ids: list[int], train_media: dict) -> None:
    import torch

    assert eval_inputs["input_ids"][0].tolist() == train_ids
    for key in ("video_grid_thw", "pixel_values_videos", "video_second_per_grid", "feature_attention_mask"):
        torch.testing.assert_close(eval_inputs[key], train_media[key], rtol=0, atol=0)
    longest = int(eval_inputs["feature_attention_mask"].sum())
    torch.testing.assert_close(
        eval_inputs["input_features"][..., :longest], train_media["input_features"][..., :longest]
    )


def test_sft_collator_and_eval_backend_build_the_same_input(
    backend, omni_dir, preset, train_row, tmp_path, monkeypatch
) -> None:
    from training.collator import OmniSFTCollator
    from training.encoding import OmniEncoder
    from training.prompting import TrainingPrompt

    spy = SampleSpy(monkeypatch)
    request = eval_request(train_row, omni_dir, preset, tmp_path)
    eval_inputs = backend._encode([backend._prepare(request)])

    from model_calls.presets import system_prompt_for

    prompt = TrainingPrompt(system_prompt=system_prompt_for(BASE_ID))
    collator = OmniSFTCollator(OmniEncoder(backend.processor, preset), supervision="answer", prompt=prompt)
    prompt_ids, _, media = collator.encode_row(dict(train_row))
    messages = prompt.messages(dict(train_row), train_row["video"]["path"], preset)

    eval_segment, train_segment = spy.calls
    assert_same_segment(eval_segment, train_segment)
    assert request.messages[0] == messages[0] and "Qwen Team" in messages[0]["content"]  # the same system turn
    assert list(request.messages) == messages  # the very same conversation
    # pixel size per frame: grid (t, h, w) of 14-px patches, equal on both sides, inside the preset's bounds
    t, h, w = (int(v) for v in eval_inputs["video_grid_thw"][0])
    assert t == len(eval_segment.times) // 2 and MIN_PIXELS <= h * w * 14 * 14 <= MAX_PIXELS
    assert_same_model_input(eval_inputs, prompt_ids, media)


def test_grpo_generation_input_is_the_eval_input(backend, omni_dir, preset, train_row, tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    import datasets

    from model_calls.presets import system_prompt_for
    from training.data import with_prompts
    from training.encoding import OmniEncoder
    from training.grpo_trainer import OmniGRPOTrainer
    from training.prompting import TrainingPrompt

    request = eval_request(train_row, omni_dir, preset, tmp_path)
    spy = SampleSpy(monkeypatch)
    eval_inputs = backend._encode([backend._prepare(request)])
    # the GRPO prompt column, through Arrow (as the trainer reads it), then the trainer's own tokenize step
    rows = datasets.Dataset.from_list([dict(train_row)])
    prompt = TrainingPrompt(system_prompt=system_prompt_for(BASE_ID))
    column = with_prompts(rows, tmp_path / "media", prompt, preset)[0]["prompt"]
    trainer = SimpleNamespace(omni_encoder=OmniEncoder(backend.processor, preset), _media_in_flight=None)
    ids, _, fields = OmniGRPOTrainer._tokenize_prompts(trainer, [column])
    assert fields["use_audio_in_video"] is True
    assert_same_segment(*spy.calls)
    assert_same_model_input(eval_inputs, ids[0], trainer._media_in_flight[0])


def test_generate_positions_are_built_with_audio_in_video(backend, omni_dir, preset, train_row, tmp_path, monkeypatch):
    import torch

    request = eval_request(train_row, omni_dir, preset, tmp_path)
    inputs = backend._encode([backend._prepare(request)])
    thinker = backend.model
    original = thinker.get_rope_index
    seen = []

    def spy(*args, **kwargs):
        positions, deltas = original(*args, **kwargs)
        seen.append((kwargs.get("use_audio_in_video"), positions))
        return positions, deltas

    monkeypatch.setattr(thinker, "get_rope_index", spy)
    (response,) = backend.generate([request])
    assert response.ok, response.error
    flag, positions = seen[0]
    assert flag is True
    common = {
        "image_grid_thw": None, "video_grid_thw": inputs["video_grid_thw"], "attention_mask": inputs["attention_mask"],
        "audio_seqlens": inputs["feature_attention_mask"].sum(-1), "second_per_grids": inputs["video_second_per_grid"],
    }  # fmt: skip
    on, _ = original(inputs["input_ids"], use_audio_in_video=True, **common)
    off, _ = original(inputs["input_ids"], use_audio_in_video=False, **common)
    assert torch.equal(positions, on)
    assert (positions != off).any(dim=0).sum() > 0  # the flag matters for this input: the test could fail


def test_batches_are_left_padded_whatever_the_processor_says(backend, omni_dir, preset, train_row, tmp_path):
    from dataclasses import replace

    tokenizer = backend.processor.tokenizer
    before = tokenizer.padding_side
    tokenizer.padding_side = "right"
    try:
        long = eval_request(train_row, omni_dir, preset, tmp_path)
        short = replace(
            long,
            messages=(
                long.messages[0],
                {"role": "user", "content": [long.messages[1]["content"][0], {"type": "text", "text": "A or B?"}]},
            ),
        )
        prepared = [backend._prepare(r) for r in (long, short)]
        inputs = backend._encode(prepared)
        mask = inputs["attention_mask"]
        assert mask[:, -1].all() and not mask[1, 0]  # both prompts end at the last column; the short one is padded left
        batched = backend.generate([long, short])
        alone = backend.generate([short])
        assert batched[1].text == alone[0].text
    finally:
        tokenizer.padding_side = before


def _long_clip(path: Path, seconds: float) -> Path:
    from model_calls.media import encode_mp4

    rate = 16_000
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    frames = [np.full((64, 96, 3), (i * 7) % 255, dtype=np.uint8) for i in range(int(seconds * 3))]
    return encode_mp4(path, frames, 3.0, samples)


@pytest.mark.slow
def test_a_75_second_clip_keeps_all_its_audio(omni_dir, tmp_path) -> None:
    """Real Qwen2.5-Omni feature extractor: 75 s of audio → 7500 mel frames → 1875 audio tokens (25 per second)."""
    from transformers import AutoProcessor

    from model_calls import ModelRequest, get_backend
    from training.encoding import OmniEncoder

    real = Path(shutil.copytree(omni_dir, tmp_path / "real-limits-qwen2.5-omni"))
    config_path = real / "processor_config.json"  # transformers 5 saves the sub-processors' configs in here
    config = json.loads(config_path.read_text())
    config["feature_extractor"].update(REAL_FEATURE_LIMITS)
    config_path.write_text(json.dumps(config))
    clip = _long_clip(tmp_path / "clip75.mp4", 75.0)
    video = {"type": "video", "video": str(clip), "start": 0.0, "end": 75.0, "fps": 0.4, "max_frames": 32}
    video |= {"min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS, "audio_in_video": True}
    request = ModelRequest(model="m", messages=({"role": "user", "content": [video, {"type": "text", "text": "Q?"}]},))

    backend = get_backend("transformers", model=str(real), max_new_tokens=2)
    assert backend.processor.feature_extractor.n_samples == 4_800_000
    inputs = backend._encode([backend._prepare(request)])
    audio_tokens = int((inputs["input_ids"] == backend.processor.audio_token_id).sum())
    assert int(inputs["feature_attention_mask"].sum()) == 7500 and audio_tokens == 1875
    (response,) = backend.generate([request])  # the audio tower takes all 7500 frames (in its own windows)
    assert response.ok, response.error
    assert response.usage["audio_tokens"] == 1875

    from model_calls.presets import InputPreset

    encoder = OmniEncoder(
        AutoProcessor.from_pretrained(real),
        InputPreset(name="p", fps=0.4, max_frames=32, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS),
    )
    row = encoder.encode(list(request.messages))
    assert int(row.media["feature_attention_mask"].sum()) == 7500
    assert row.prompt_ids.count(backend.processor.audio_token_id) == 1875

    # the tiny test processor keeps Whisper's 30 s window: the same clip would lose 45 s of audio there
    tiny = get_backend("transformers", model=str(omni_dir), max_new_tokens=2)
    cut = tiny._encode([tiny._prepare(request)])
    assert int((cut["input_ids"] == tiny.processor.audio_token_id).sum()) == 750
