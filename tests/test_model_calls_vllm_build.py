"""The builder's requests at the vLLM boundary (vLLM is CUDA-only: a fake module stands in):
every stage's requests become engine inputs — captions the sampled frames of the clip's segment,
voice the speaker's audio, text prompts plain strings with Qwen3's thinking switched off."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from builder.config import BuildConfig
from builder.pipeline import run_build
from builder.stages.caption import CaptionStage
from builder.stages.describe import DescribeStage
from builder.stages.qa import DistractorPool, LLMQAStage
from builder.stages.voice import VoiceStage
from model_calls import get_backend
from model_calls.store import iter_records


class FakeLLM:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


class RecordingProcessor:
    def __init__(self) -> None:
        self.calls: list[tuple[list, dict]] = []

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True, **kwargs):
        self.calls.append((messages, kwargs))
        return "PROMPT"


@pytest.fixture
def vllm_backend(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM, module.SamplingParams = FakeLLM, dict
    monkeypatch.setitem(sys.modules, "vllm", module)
    processor = RecordingProcessor()
    return get_backend("vllm", model="any", processor=processor), processor


@pytest.fixture(scope="module")
def stages(sample_tvqa_root: Path, tmp_path_factory: pytest.TempPathFactory) -> BuildConfig:
    out = tmp_path_factory.mktemp("built")
    config = BuildConfig(tvqa_root=sample_tvqa_root, out=out, backend="replay", qa_generator="llm", progress=False)
    run_build(config)
    return config


def first(config: BuildConfig, stage: str) -> dict:
    return next(iter(iter_records(config.stages_dir / f"{stage}.jsonl")))


def test_caption_requests_carry_the_sampled_frames_as_video(stages, vllm_backend) -> None:
    backend, processor = vllm_backend
    clip = first(stages, "preprocess")
    requests = CaptionStage(stages).requests(clip)
    engine_input = backend.build_input(requests[0])
    frames = engine_input["multi_modal_data"]["video"]
    assert frames.shape[0] == stages.frames_per_segment and frames.shape[-1] == 3  # (T, H, W, C)
    segment = clip["segments"][0]  # the frames' time axis is the segment's: 2 frames over its span
    assert engine_input["mm_processor_kwargs"]["fps"] == pytest.approx(2 / (segment["end"] - segment["start"]))
    messages, _ = processor.calls[-1]
    assert [p["type"] for p in messages[0]["content"]] == ["video", "text"]


def test_voice_requests_carry_the_speakers_audio(stages, vllm_backend) -> None:
    backend, _ = vllm_backend
    requests = VoiceStage(stages).requests(first(stages, "biography"))
    audio, rate = backend.build_input(requests[0])["multi_modal_data"]["audio"]
    assert rate == 16_000 and 1.0 < len(audio) / rate < 8.0


def test_text_requests_are_plain_strings_without_thinking(stages, vllm_backend) -> None:
    backend, processor = vllm_backend
    for requests in (
        DescribeStage(stages).requests(first(stages, "caption")),
        LLMQAStage(stages, DistractorPool()).requests(first(stages, "align")),
    ):
        engine_input = backend.build_input(requests[0])
        assert "multi_modal_data" not in engine_input
        messages, kwargs = processor.calls[-1]
        assert isinstance(messages[0]["content"], str) and kwargs == {"enable_thinking": False}
