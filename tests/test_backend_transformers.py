"""The transformers backend on a tiny random Qwen2.5-Omni thinker and a tiny text-only LM."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_calls import ModelRequest, get_backend
from tests.helpers.tiny_omni import MAX_PIXELS, MIN_PIXELS


def _request(parts, max_tokens=4):
    messages = ({"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": parts})
    return ModelRequest(model="tiny", messages=messages, sampling={"temperature": 0.0, "max_tokens": max_tokens})


def _video(path, audio_in_video):
    part = {"type": "video", "video": str(path), "start": 0.0, "end": 4.0, "fps": 1.0}
    part |= {"max_pixels": MAX_PIXELS, "min_pixels": MIN_PIXELS}
    return {**part, "audio_in_video": True} if audio_in_video else part


@pytest.fixture(scope="module")
def backend(tiny_omni_dir):
    return get_backend("transformers", model=str(tiny_omni_dir), batch_size=2, max_new_tokens=4)


@pytest.fixture(scope="module")
def clip(sample_tvqa_root) -> Path:
    return next((sample_tvqa_root / "videos").glob("*.mp4"))


@pytest.fixture()
def captured(backend, monkeypatch):
    """Record the keyword arguments every model.generate call receives."""
    calls = []
    original = backend.model.generate

    def spy(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(backend.model, "generate", spy)
    return calls


def test_audio_in_video_reaches_the_model(backend, clip, captured):
    text = {"type": "text", "text": "Who speaks first? A. x B. y C. z D. w"}
    responses = backend.generate([_request([_video(clip, True), text])])
    assert responses[0].ok, responses[0].error
    kwargs = captured[0]
    assert kwargs["input_features"].abs().sum() > 0  # real audio features, not padding
    assert kwargs["pixel_values_videos"].shape[0] > 0
    assert responses[0].usage["modalities"] == ["text", "video", "audio"]
    assert responses[0].usage["audio_tokens"] > 0 and responses[0].usage["video_tokens"] > 0


def test_modality_ablations_drop_what_they_say(backend, clip, captured):
    text = {"type": "text", "text": "Question? A. x B. y"}
    audio_part = {"type": "audio", "audio": str(clip), "start": 0.0, "end": 4.0}
    no_audio, audio_only, text_only = backend.generate(
        [_request([_video(clip, False), text]), _request([audio_part, text]), _request([text])]
    )
    assert no_audio.usage["modalities"] == ["text", "video"]
    assert audio_only.usage["modalities"] == ["text", "audio"]
    assert text_only.usage["modalities"] == ["text"]
    # requests are grouped by video settings: the video one and the two others go in separate calls
    with_video = [kw for kw in captured if "pixel_values_videos" in kw]
    assert len(with_video) == 1 and "input_features" not in with_video[0]


def test_batches_follow_batch_size_and_a_bad_file_fails_alone(backend, clip, tmp_path):
    text = {"type": "text", "text": "Question? A. x B. y"}
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    requests = [_request([_video(clip, True), text]) for _ in range(4)]
    requests.insert(2, _request([_video(broken, True), text]))
    before = backend.calls
    responses = backend.generate(requests)
    assert backend.calls - before == 2  # 4 good requests, batch size 2
    assert [r.ok for r in responses] == [True, True, False, True, True]
    assert "broken.mp4" in responses[2].error
    # greedy decoding: identical requests give identical answers within a batch
    assert len({r.text for r in responses if r.ok}) == 1


def test_text_only_language_model(tmp_path, tiny_omni_dir, clip):
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_omni_dir)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    Qwen2ForCausalLM(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    backend = get_backend("transformers", model=str(tmp_path), max_new_tokens=3)
    unset = ModelRequest(model="tiny", messages=({"role": "user", "content": "Pick A or B."},))
    text_reply, video_reply = backend.generate([unset, _request([_video(clip, False)])])
    assert text_reply.ok and text_reply.usage["completion_tokens"] <= 3  # the backend's default cap
    assert text_reply.usage["modalities"] == ["text"]
    assert not video_reply.ok and "text-only" in video_reply.error
