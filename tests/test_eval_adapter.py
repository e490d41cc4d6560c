"""Base model + PEFT LoRA adapter in `crossomni eval`: transformers backend, vLLM boundary, run identity, cache keys.

The adapter is a LoRA on the tiny random Qwen2.5-Omni thinker's language model (q/k/v/o), with its
``lora_B`` (zero at init) set to random values so that it really changes the model's outputs.
"""

from __future__ import annotations

import json
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossomni_cli import app
from model_calls import ModelRequest, get_backend
from tests.helpers.tiny_omni import MAX_PIXELS, MIN_PIXELS
from tests.test_backend_vllm import FakeLLM, FakeSamplingParams

LORA_RANK = 4


def _make_adapter(base: Path, out: Path, seed: int) -> Path:
    """Save a LoRA (rank 4) on the thinker's language model attention, with random non-zero ``lora_B``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    from training.modeling import language_model_lora_pattern

    model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(base)
    config = LoraConfig(
        r=LORA_RANK,
        lora_alpha=8,
        target_modules=language_model_lora_pattern(["q_proj", "k_proj", "v_proj", "o_proj"]),
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(0.5 * torch.randn(parameter.shape, generator=generator))
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def adapter_dir(tiny_omni_dir, tmp_path_factory) -> Path:
    return _make_adapter(tiny_omni_dir, tmp_path_factory.mktemp("adapter"), seed=0)


@pytest.fixture(scope="module")
def clip(sample_tvqa_root) -> Path:
    return next((sample_tvqa_root / "videos").glob("*.mp4"))


@pytest.fixture(scope="module")
def embedded_export(tmp_path_factory, sample_release, sample_tvqa_root) -> Path:
    from builder.export import export_release

    folder = tmp_path_factory.mktemp("export") / "crossomni"
    export_release(sample_release, folder, tvqa_root=sample_tvqa_root, media="embed")
    return folder


def _request(clip: Path) -> ModelRequest:
    video = {"type": "video", "video": str(clip), "start": 0.0, "end": 4.0, "fps": 1.0, "audio_in_video": True}
    video |= {"max_pixels": MAX_PIXELS, "min_pixels": MIN_PIXELS}
    text = {"type": "text", "text": "Who speaks first? A. x B. y C. z D. w"}
    return ModelRequest(
        model="tiny", messages=({"role": "user", "content": [video, text]},), sampling={"max_tokens": 4}
    )


def _logits(backend, request: ModelRequest):
    import torch

    inputs = backend._encode([backend._prepare(request)])
    with torch.inference_mode():
        return backend.model(**inputs).logits, inputs


def test_adapter_only_on_the_language_model(adapter_dir):
    from safetensors import safe_open

    with safe_open(str(adapter_dir / "adapter_model.safetensors"), framework="pt") as handle:
        names = list(handle.keys())
    assert names and all(".language_model.layers." in name for name in names)
    assert not any("audio_tower" in name or "visual" in name for name in names)
    assert json.loads((adapter_dir / "adapter_config.json").read_text())["r"] == LORA_RANK


def test_transformers_backend_applies_the_adapter(tiny_omni_dir, adapter_dir, clip):
    import torch
    from peft import PeftModel
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    request = _request(clip)
    base = get_backend("transformers", model=str(tiny_omni_dir), max_new_tokens=4)
    tuned = get_backend("transformers", model=str(tiny_omni_dir), adapter=str(adapter_dir), max_new_tokens=4)
    base_logits, inputs = _logits(base, request)
    tuned_logits, _ = _logits(tuned, request)
    assert not torch.allclose(base_logits, tuned_logits, atol=1e-3)

    by_hand = PeftModel.from_pretrained(
        Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(tiny_omni_dir), str(adapter_dir)
    ).eval()
    with torch.inference_mode():
        torch.testing.assert_close(by_hand(**inputs).logits, tuned_logits)
        # the clip's audio rides in the video: generate needs the flag for its RoPE positions, as the backend passes it
        expected = by_hand.generate(
            **inputs,
            use_audio_in_video=True,
            max_new_tokens=4,
            do_sample=False,
            pad_token_id=base.tokenizer.pad_token_id,
        )
    (response,) = tuned.generate([request])
    assert response.ok, response.error
    assert response.usage["modalities"] == ["text", "video", "audio"]
    completion = expected[:, inputs["input_ids"].shape[1] :]
    assert response.text == tuned.tokenizer.batch_decode(completion, skip_special_tokens=True)[0].strip()

    merged = get_backend(
        "transformers", model=str(tiny_omni_dir), adapter=str(adapter_dir), merge_adapter=True, max_new_tokens=4
    )
    torch.testing.assert_close(_logits(merged, request)[0], tuned_logits, atol=1e-4, rtol=1e-4)


class LoraFakeLLM(FakeLLM):
    """The fake engine, also recording the LoRA request of each generate call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.lora_requests = []

    def generate(self, inputs, sampling_params=None, use_tqdm=True, lora_request=None):
        self.lora_requests.append(lora_request)
        return super().generate(inputs, sampling_params=sampling_params, use_tqdm=use_tqdm)


@dataclass
class FakeLoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str


@pytest.fixture()
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = LoraFakeLLM
    module.SamplingParams = FakeSamplingParams
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = FakeLoRARequest
    for name, value in (("vllm", module), ("vllm.lora", lora), ("vllm.lora.request", request)):
        monkeypatch.setitem(sys.modules, name, value)
    return module


def test_vllm_backend_gets_lora(fake_vllm, tiny_omni_dir, adapter_dir, clip, tmp_path):
    from safetensors.torch import load_file

    backend = get_backend(
        "vllm", model=str(tiny_omni_dir), adapter=str(adapter_dir), adapter_cache_dir=str(tmp_path), seed=1
    )
    kwargs = backend.llm.kwargs
    assert kwargs["enable_lora"] is True and kwargs["max_loras"] == 1
    assert kwargs["max_lora_rank"] == 8  # r=4, rounded up to a rank vLLM accepts
    (response,) = backend.generate([_request(clip)])
    assert response.ok
    (lora_request,) = backend.llm.lora_requests
    assert isinstance(lora_request, FakeLoRARequest) and lora_request.lora_int_id == 1
    assert lora_request.lora_name == str(adapter_dir)

    # the engine reads a copy whose keys use the checkpoint's ``thinker.model.`` spelling, same tensors
    folder = Path(lora_request.lora_path)
    assert folder.parent == tmp_path
    original = load_file(str(adapter_dir / "adapter_model.safetensors"))
    renamed = load_file(str(folder / "adapter_model.safetensors"))
    assert len(renamed) == len(original)
    assert all(name.startswith("base_model.model.thinker.model.layers.") for name in renamed)
    prefix = "base_model.model.model.language_model."
    for name, tensor in original.items():
        assert renamed["base_model.model.thinker.model." + name.removeprefix(prefix)].equal(tensor)
    assert json.loads((folder / "adapter_config.json").read_text())["r"] == LORA_RANK

    plain = get_backend("vllm", model=str(tiny_omni_dir))
    assert "enable_lora" not in plain.llm.kwargs
    plain.generate([_request(clip)])
    assert plain.llm.lora_requests == [None]


def test_vllm_rank_and_key_helpers():
    from model_calls.adapters import vllm_lora_key, vllm_max_lora_rank

    assert [vllm_max_lora_rank(r) for r in (1, 2, 8, 16, 17, 64)] == [1, 8, 8, 16, 32, 64]
    with pytest.raises(ValueError, match="512"):
        vllm_max_lora_rank(1024)
    key = "base_model.model.model.language_model.layers.3.self_attn.o_proj.lora_B.weight"
    assert vllm_lora_key(key) == "base_model.model.thinker.model.layers.3.self_attn.o_proj.lora_B.weight"


def test_request_keys_and_identity_follow_the_adapter(tiny_omni_dir, adapter_dir, tmp_path):
    from evaluation.items import Item
    from evaluation.runner import EvalConfig, build_request

    retrained = _make_adapter(tiny_omni_dir, tmp_path / "retrained", seed=1)
    item = Item(id="q1", task="audio", clip_id="c", question="Who?", options=("a", "b", "c", "d"), answer="A")
    configs = {
        "base": EvalConfig(model=str(tiny_omni_dir), out=str(tmp_path / "run"), inputs="text-only"),
        "adapter": EvalConfig(
            model=str(tiny_omni_dir), adapter=str(adapter_dir), out=str(tmp_path / "run"), inputs="text-only"
        ),
        "retrained": EvalConfig(
            model=str(tiny_omni_dir), adapter=str(retrained), out=str(tmp_path / "run"), inputs="text-only"
        ),
    }
    keys, identities = {}, {}
    for name, cfg in configs.items():
        keys[name] = build_request(item, cfg, cfg.input_config()).key()
        identities[name] = json.dumps(cfg.identity(), sort_keys=True)
    assert len(set(keys.values())) == 3 and len(set(identities.values())) == 3
    assert configs["base"].identity()["peft_adapter"] is None
    assert configs["adapter"].identity()["peft_adapter"]["id"] == str(adapter_dir)


def _eval(model: Path, dataset: Path, out: Path, *extra: str):
    args = ["eval", "--model", str(model), "--dataset", str(dataset), "--out", str(out), "--quiet", "--limit", "3"]
    args += ["--fps", "1", "--max-pixels", str(MAX_PIXELS), "--min-pixels", str(MIN_PIXELS), "--max-new-tokens", "4"]
    return CliRunner().invoke(app, [*args, *extra])


def test_eval_command_with_adapter(tmp_path, tiny_omni_dir, adapter_dir, embedded_export):
    from evaluation.runner import RunConflictError

    run = tmp_path / "tuned"
    result = _eval(tiny_omni_dir, embedded_export, run, "--adapter", str(adapter_dir))
    assert result.exit_code == 0, result.output
    assert "3/3 scored, 0 pending" in result.output
    meta = json.loads((run / "run.json").read_text())
    assert meta["identity"]["peft_adapter"]["id"] == str(adapter_dir)
    assert meta["identity"]["model"] == str(tiny_omni_dir) and meta["identity"]["adapter"] == "crossomni"
    assert meta["peft_adapter"]["r"] == LORA_RANK and meta["peft_adapter"]["peft_type"] == "LORA"
    assert meta["peft_adapter"]["sha256"] == meta["identity"]["peft_adapter"]["sha256"]
    assert f"- adapter: {adapter_dir}" in (run / "report.md").read_text()
    records = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(r["modalities"] == ["text", "video", "audio"] for r in records)

    # resuming with the same adapter makes no model call; the base alone in the same folder is refused
    again = _eval(tiny_omni_dir, embedded_export, run, "--adapter", str(adapter_dir))
    assert again.exit_code == 0, again.output
    assert json.loads((run / "run.json").read_text())["backend_calls"] == 0
    base = _eval(tiny_omni_dir, embedded_export, run)
    assert isinstance(base.exception, RunConflictError) and "peft_adapter" in str(base.exception)


def test_adapter_needs_a_local_backend(tmp_path, adapter_dir):
    result = CliRunner().invoke(
        app, ["eval", "--model", "m", "--out", str(tmp_path), "--adapter", str(adapter_dir), "--backend", "openai"]
    )
    assert result.exit_code != 0 and "--adapter needs --backend" in result.output
    with pytest.raises(FileNotFoundError, match="not found"):
        from model_calls.adapters import resolve_adapter

        resolve_adapter(str(tmp_path / "missing"))


def test_processor_comes_from_the_adapter_folder_when_saved(tiny_omni_dir, adapter_dir, tmp_path):
    import shutil

    from transformers import AutoProcessor

    from model_calls.adapters import processor_source

    assert processor_source(str(tiny_omni_dir), str(adapter_dir)) == str(tiny_omni_dir)
    assert processor_source(str(tiny_omni_dir), None) == str(tiny_omni_dir)
    with_processor = Path(shutil.copytree(adapter_dir, tmp_path / "with_processor"))
    AutoProcessor.from_pretrained(tiny_omni_dir).save_pretrained(with_processor)  # what trl saves next to it
    assert processor_source(str(tiny_omni_dir), str(with_processor)) == str(with_processor)


def test_adapter_card_shows_the_eval_command():
    from model_cards.adapter_card import AdapterCardInfo, render_adapter_card

    card = str(render_adapter_card(AdapterCardInfo(stage="sft", base_model="Qwen/Qwen2.5-Omni-3B", repo_id="me/sft")))
    assert "crossomni eval --model Qwen/Qwen2.5-Omni-3B --adapter me/sft" in card


def test_a_base_is_evaluated_on_the_inputs_training_on_it_records(tmp_path):
    """One rule for a base model's inputs: plain eval uses the preset and system prompt training records."""
    from evaluation.inputs import resolve_inputs
    from training.arguments import GRPOScriptArguments, SFTScriptArguments

    local = tmp_path / "my-checkpoint"  # a local Qwen2.5-Omni whose path does not say so
    local.mkdir()
    (local / "config.json").write_text('{"model_type": "qwen2_5_omni"}')
    for base in ("Qwen/Qwen2.5-Omni-3B", "Qwen/Qwen2.5-Omni-7B", str(local)):
        evaluated = resolve_inputs(base)
        for recipe in (SFTScriptArguments(), GRPOScriptArguments()):
            record = recipe.training_inputs(base)
            assert evaluated.preset.to_json() == record["input_preset"], base
            assert evaluated.system_prompt == record["system_prompt"] and "Qwen Team" in record["system_prompt"]
        assert evaluated.preset.name == "qwen2.5-omni-compact" and "family qwen2.5-omni" in evaluated.source
    assert "config.json model_type qwen2_5_omni" in resolve_inputs(str(local)).source
    # an explicit choice is kept, and said
    chosen = resolve_inputs(str(local), preset="qwen2.5-omni")
    assert chosen.preset.name == "qwen2.5-omni" and "input preset given explicitly" in chosen.source
    other = resolve_inputs(str(tmp_path))  # no family: the generic preset and prompt, said as such
    assert other.preset.name == "generic" and "no family matched" in other.source
    with pytest.raises(ValueError, match="no base model"):
        SFTScriptArguments().preset()


def test_recorded_inputs_are_the_default_and_a_mismatch_is_refused(adapter_dir, tmp_path):
    import shutil

    from evaluation.inputs import InputMismatchError, resolve_inputs
    from model_calls.adapters import training_inputs_record, write_training_inputs
    from model_calls.presets import family_preset, input_preset

    # no record: the model family's preset and system prompt, the default template
    plain = resolve_inputs("Qwen/Qwen2.5-Omni-7B", str(adapter_dir))
    assert plain.preset == family_preset("Qwen/Qwen2.5-Omni-7B") and plain.trained is None
    assert (plain.prompting, plain.prompt_version) == ("default", "v2") and "Qwen Team" in plain.system_prompt

    folder = Path(shutil.copytree(adapter_dir, tmp_path / "recorded"))
    trained = input_preset("qwen2.5-omni-compact").with_overrides(fps=1.0)
    write_training_inputs(folder, training_inputs_record(trained.to_json(), "icl.v1", "Be exact."))
    used = resolve_inputs("Qwen/Qwen2.5-Omni-7B", str(folder))
    assert used.preset == trained and (used.prompting, used.prompt_version) == ("icl", "v1")
    assert used.system_prompt == "Be exact." and used.mismatches == ()
    # naming the same values is no mismatch; other values are, each named
    assert resolve_inputs("m", str(folder), preset="qwen2.5-omni-compact", fps=1.0, prompting="icl").mismatches == ()
    for ask, said in (
        ({"preset": "qwen2.5-omni"}, "input preset qwen2.5-omni (adapter: qwen2.5-omni-compact+fps=1.0)"),
        ({"max_frames": 8}, "input preset qwen2.5-omni-compact+fps=1.0+max_frames=8"),
        ({"prompting": "default"}, "prompt default.v1 (adapter: icl.v1)"),
        ({"system_prompt": ""}, "system prompt"),
    ):
        with pytest.raises(InputMismatchError, match=re.escape(said)) as caught:
            resolve_inputs("m", str(folder), **ask)
        assert "\n" not in str(caught.value) and "--allow-input-mismatch" in str(caught.value)
        assert resolve_inputs("m", str(folder), allow_mismatch=True, **ask).mismatches
    (folder / "crossomni_inputs.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match=re.escape("crossomni_inputs.json: not a crossomni-training-inputs/1 record")):
        resolve_inputs("m", str(folder))


def test_a_segment_sampled_from_bytes_equals_the_one_from_its_file(clip):
    import numpy as np

    from model_calls.media import Segment, sample_segment
    from model_calls.presets import input_preset

    preset = input_preset("qwen2.5-omni-compact")
    from_path = sample_segment(clip, Segment(1.0, 5.0), preset)
    from_bytes = sample_segment(clip.read_bytes(), Segment(1.0, 5.0), preset)
    assert from_path.times == from_bytes.times == tuple(1.0 + 0.25 + 0.5 * k for k in range(8))
    np.testing.assert_array_equal(from_path.frames, from_bytes.frames)
    np.testing.assert_array_equal(from_path.audio, from_bytes.audio)
    assert from_path.audio.shape == (4 * 16_000,) and from_path.fps == 2.0


def test_a_model_other_than_the_adapters_recorded_base_is_a_warning(
    tmp_path, tiny_omni_dir, adapter_dir, embedded_export
):
    import shutil

    from evaluation.inputs import base_model_mismatch

    other_base = Path(shutil.copytree(tiny_omni_dir, tmp_path / "other-base"))
    result = _eval(other_base, embedded_export, tmp_path / "run", "--adapter", str(adapter_dir), "--limit", "1")
    assert result.exit_code == 0, result.output
    (warning,) = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert f"--model {other_base} differs from the base adapter {adapter_dir} records ({tiny_omni_dir})" in warning
    assert "warning" not in result.stdout
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["base_model_mismatch"] == warning.removeprefix("warning: ")
    matching = _eval(tiny_omni_dir, embedded_export, tmp_path / "same", "--adapter", str(adapter_dir), "--limit", "1")
    assert matching.exit_code == 0 and "warning" not in matching.stderr
    assert json.loads((tmp_path / "same" / "run.json").read_text())["base_model_mismatch"] is None

    # crossomni_inputs.json's record counts too: the folder it loaded and the Hub id it confirmed
    record = {"base_model": {"loaded": "/elsewhere/tiny", "hub_id": "acme/tiny-omni"}}
    assert base_model_mismatch("acme/tiny-omni", str(adapter_dir), record) is None
    assert base_model_mismatch("/elsewhere/tiny", str(adapter_dir), record) is None
    said = base_model_mismatch("acme/other-omni", str(adapter_dir), record)
    assert said.endswith(f"({tiny_omni_dir} / /elsewhere/tiny / acme/tiny-omni): is it the same model?")
