"""The vLLM backend's request building, checked against a fake ``vllm`` module (vLLM is CUDA-only)."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from model_calls import ModelRequest, get_backend


@dataclass
class FakeSamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 16
    seed: int | None = None


class FakeLLM:
    """Records what the backend hands the engine and answers with the expanded prompt's token ids."""

    video_id = audio_id = -1

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.inputs = []
        self.params = []

    def generate(self, inputs, sampling_params=None, use_tqdm=True):
        self.inputs.extend(inputs)
        self.params.extend(sampling_params)
        outputs = []
        for engine_input in inputs:
            media = engine_input.get("multi_modal_data", {})
            # pretend the engine expanded one placeholder token per modality it was given
            ids = [1, 2] + [FakeLLM.video_id] * ("video" in media) + [FakeLLM.audio_id] * ("audio" in media)
            completion = types.SimpleNamespace(text=" The answer is B. ", token_ids=[5, 6, 7])
            outputs.append(types.SimpleNamespace(prompt_token_ids=ids, outputs=[completion]))
        return outputs


@pytest.fixture()
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = FakeSamplingParams
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module


@pytest.fixture()
def backend(fake_vllm, tiny_omni_dir):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_omni_dir)
    FakeLLM.video_id, FakeLLM.audio_id = processor.video_token_id, processor.audio_token_id
    return get_backend("vllm", model=str(tiny_omni_dir), tensor_parallel_size=2, seed=7, max_new_tokens=32)


@pytest.fixture(scope="module")
def clip(sample_tvqa_root) -> Path:
    return next((sample_tvqa_root / "videos").glob("*.mp4"))


def _request(parts):
    messages = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": parts})
    return ModelRequest(model="tiny", messages=messages, sampling={"temperature": 0.0, "max_tokens": 8, "seed": 3})


def test_engine_options(backend):
    kwargs = backend.llm.kwargs
    assert kwargs["tensor_parallel_size"] == 2 and kwargs["seed"] == 7
    assert kwargs["limit_mm_per_prompt"] == {"image": 0, "video": 1, "audio": 1}


def test_audio_in_video_request(backend, clip):
    video = {"type": "video", "video": str(clip), "start": 0.0, "end": 4.0, "fps": 2.0, "audio_in_video": True}
    (response,) = backend.generate([_request([video, {"type": "text", "text": "Who speaks? A. x B. y"}])])
    engine_input = backend.llm.inputs[0]
    assert engine_input["prompt"].count("<|VIDEO|>") == 1 and "<|AUDIO|>" not in engine_input["prompt"]
    assert engine_input["prompt"].startswith("<|im_start|>system\nBe brief.")
    frames = engine_input["multi_modal_data"]["video"]
    assert frames.ndim == 4 and frames.shape[-1] == 3 and frames.shape[0] == 8  # (T, H, W, C), 4 s at 2 fps
    audio, rate = engine_input["multi_modal_data"]["audio"]
    assert rate == 16_000 and len(audio) == 4 * 16_000 and abs(audio).sum() > 0
    assert engine_input["mm_processor_kwargs"] == {"fps": 2.0, "use_audio_in_video": True}
    params = backend.llm.params[0]
    assert (params.temperature, params.max_tokens, params.seed) == (0.0, 8, 3)
    assert response.text == "The answer is B."
    assert response.usage["modalities"] == ["text", "video", "audio"]


def test_ablations_and_bad_media(backend, clip, tmp_path):
    text = {"type": "text", "text": "Question?"}
    frames_only = {"type": "video", "video": str(clip), "end": 2.0, "max_pixels": 6272, "min_pixels": 3136}
    audio_only = {"type": "audio", "audio": str(clip), "start": 1.0, "end": 2.0}
    missing = {"type": "video", "video": str(tmp_path / "gone.mp4")}
    responses = backend.generate([_request([frames_only, text]), _request([audio_only, text]), _request([missing])])
    no_audio, only_audio = backend.llm.inputs
    assert "audio" not in no_audio["multi_modal_data"] and "use_audio_in_video" not in no_audio["mm_processor_kwargs"]
    assert no_audio["mm_processor_kwargs"]["max_pixels"] == 6272
    assert "<|AUDIO|>" in only_audio["prompt"] and "video" not in only_audio["multi_modal_data"]
    assert len(only_audio["multi_modal_data"]["audio"][0]) == 16_000
    assert [r.ok for r in responses] == [True, True, False] and "gone.mp4" in responses[2].error
    assert responses[0].usage["modalities"] == ["text", "video"]
    assert backend.calls == 1  # one engine call for the whole batch


def test_missing_vllm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ImportError, match=r"crossomni\[vllm\]"):
        get_backend("vllm", model="Qwen/Qwen2.5-Omni-7B")
