"""Recipe YAMLs (paper B.2 values), argument parsing, the CLI wiring, sampling and prompt building."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

import crossomni

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"
CPU = ["--bf16", "false", "--use_cpu", "true"]


@pytest.mark.parametrize("size", ["3b", "7b"])
def test_sft_recipe_is_b2(size: str) -> None:
    from training.sft import parse

    script, train, model = parse(["--config", str(CONFIGS / f"sft_qwen2.5-omni-{size}.yaml"), *CPU])
    assert model.model_name_or_path == f"Qwen/Qwen2.5-Omni-{size.upper()}" == script.base_model_id
    assert (model.use_peft, model.lora_r, model.lora_alpha) == (True, 16, 32)
    assert train.learning_rate == 1e-5
    assert train.per_device_train_batch_size * train.gradient_accumulation_steps == 32  # global batch on one GPU
    assert train.num_train_epochs == 1
    assert script.supervision == "rationale"


@pytest.mark.parametrize("size", ["3b", "7b"])
def test_grpo_recipe_is_b2(size: str) -> None:
    from training.grpo import parse

    script, train, _ = parse(["--config", str(CONFIGS / f"grpo_qwen2.5-omni-{size}.yaml"), *CPU])
    assert train.learning_rate == 5e-6
    assert train.num_generations == 4
    assert train.per_device_train_batch_size * train.gradient_accumulation_steps // train.num_generations == 16
    assert train.num_train_epochs == 1
    assert script.num_train_instances == 982
    assert script.judge_model == "Qwen/Qwen3-Next-80B-A3B-Instruct"
    assert script.reward_names() == ["format", "accuracy", "consistency", "coherence"]
    assert len(train.reward_weights) == 4
    assert script.backend_kwargs() == {"base_url": "http://localhost:8001/v1"}
    assert script.sft_adapter == f"runs/sft-qwen2.5-omni-{size}"


def test_ablation_switches() -> None:
    from training.grpo import parse, select_weights
    from training.sft import parse as parse_sft

    script, train, _ = parse(
        ["--config", str(CONFIGS / "grpo_qwen2.5-omni-3b.yaml"), *CPU, "--thinking_rewards", "false"]
    )
    assert script.reward_names() == ["format", "accuracy"]
    train.reward_weights = [1.0, 2.0, 3.0, 4.0]
    assert select_weights(script, train) == [1.0, 2.0]
    script, _, _ = parse_sft(["--config", str(CONFIGS / "sft_qwen2.5-omni-3b.yaml"), *CPU, "--supervision", "answer"])
    assert script.supervision == "answer"


def test_unknown_recipe_key_is_an_error(tmp_path: Path) -> None:
    from training.sft import parse

    recipe = yaml.safe_load((CONFIGS / "sft_qwen2.5-omni-3b.yaml").read_text())
    recipe["lora_rank"] = 8  # a typo of lora_r must not be ignored
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(ValueError, match="lora_rank"):
        parse(["--config", str(path), *CPU])


def test_accelerate_configs() -> None:
    ddp = yaml.safe_load((CONFIGS / "accelerate" / "multi_gpu.yaml").read_text())
    zero2 = yaml.safe_load((CONFIGS / "accelerate" / "deepspeed_zero2.yaml").read_text())
    assert ddp["distributed_type"] == "MULTI_GPU" and ddp["mixed_precision"] == "bf16"
    assert zero2["distributed_type"] == "DEEPSPEED" and zero2["deepspeed_config"]["zero_stage"] == 2


def test_cli_passes_recipe_and_extra_args_to_trl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from crossomni_cli import app
    from training import grpo, sft

    seen = {}
    monkeypatch.setattr(sft, "main", lambda *parsed: seen.setdefault("sft", parsed) and tmp_path)
    monkeypatch.setattr(grpo, "main", lambda *parsed: seen.setdefault("grpo", parsed) and tmp_path)
    runner = CliRunner()
    config = CONFIGS / "sft_qwen2.5-omni-3b.yaml"
    result = runner.invoke(
        app, ["train", "sft", "--config", str(config), "--push-to-hub", "me/a", *CPU, "--lora_r", "8"]
    )
    assert result.exit_code == 0, result.output
    script, _, model = seen["sft"]
    assert script.adapter_repo_id == "me/a" and model.lora_r == 8
    adapter = tmp_path / "sft"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    result = runner.invoke(app, ["train", "grpo", "--config", "grpo_qwen2.5-omni-3b", "--sft-adapter", str(adapter)])
    assert result.exit_code == 0, result.output
    assert seen["grpo"][0].sft_adapter == str(adapter) and seen["grpo"][0].adapter_repo_id is None
    missing = runner.invoke(app, ["train", "sft", "--config", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2  # typer's bad-parameter exit, before any training starts


def test_balanced_sample_is_even_and_reproducible() -> None:
    import datasets

    from training.data import balanced_sample

    names = [t for t in crossomni.TASK_NAMES for _ in range(20)]
    rows = datasets.Dataset.from_dict({"task_name": names, "id": [str(i) for i in range(len(names))]})
    sample = balanced_sample(rows, 91, seed=7)
    counts = Counter(sample["task_name"])
    assert len(sample) == 91 and len(set(sample["id"])) == 91
    assert set(counts) == set(crossomni.TASK_NAMES) and max(counts.values()) - min(counts.values()) <= 1
    assert sample["id"] == balanced_sample(rows, 91, seed=7)["id"]
    assert sample["id"] != balanced_sample(rows, 91, seed=8)["id"]
    with pytest.raises(ValueError, match="balance_by"):
        balanced_sample(rows, 10, seed=0, by="show")


def test_balanced_sample_redistributes_short_groups() -> None:
    import datasets

    from training.data import balanced_sample

    names = ["audio"] * 2 + ["vision"] * 30 + ["text"] * 30
    rows = datasets.Dataset.from_dict({"task_name": names, "id": [str(i) for i in range(len(names))]})
    counts = Counter(balanced_sample(rows, 30, seed=1)["task_name"])
    assert counts == {"audio": 2, "vision": 14, "text": 14}


def test_media_file_writes_embedded_bytes_once(tmp_path: Path) -> None:
    from training.data import media_file

    first = media_file({"path": "clip.mp4", "bytes": b"abc"}, "row1", tmp_path)
    again = media_file({"path": "other.mp4", "bytes": b"abc"}, "row2", tmp_path)
    assert first == again and Path(first).read_bytes() == b"abc"
    with pytest.raises(FileNotFoundError, match="row3"):
        media_file({"path": "missing/clip.mp4", "bytes": None}, "row3", tmp_path)


def test_prompt_messages_carry_the_segment() -> None:
    from model_calls.presets import input_preset
    from training.prompting import TrainingPrompt

    row = {
        "start": 1.5, "end": 6.0, "biography": "Rachel: a chef.", "question": "Who?", "options": list("wxyz"),
        "task_name": "audio_to_vision",
    }  # fmt: skip
    preset = input_preset("qwen2.5-omni-compact")
    system, user = TrainingPrompt(system_prompt="Be brief.").messages(row, "/clips/a.mp4", preset)
    assert system == {"role": "system", "content": "Be brief."}
    video = user["content"][0]
    assert video == {
        "type": "video", "video": "/clips/a.mp4", "start": 1.5, "end": 6.0, "fps": 2.0, "max_frames": 32,
        "max_pixels": 100352, "min_pixels": 3136, "audio_in_video": True,
    }  # fmt: skip
    assert [p["type"] for p in user["content"]] == ["video", "text"]
    apart = TrainingPrompt().messages(row, "/clips/a.mp4", preset.with_overrides(audio_in_video=False))
    assert [p["type"] for p in apart[0]["content"]] == ["video", "audio", "text"]  # no system turn asked for
    text = user["content"][-1]["text"]
    assert "A. w\nB. x\nC. y\nD. z" in text and "Reply with only the letter" in text
    assert "<think>" in TrainingPrompt(template="icl.v1").task_text(row)


@pytest.mark.parametrize("name", ["sft_qwen2.5-omni-3b", "grpo_qwen2.5-omni-7b"])
def test_recipes_name_a_preset_and_the_family_system_prompt(name: str) -> None:
    from model_calls.presets import input_preset, system_prompt_for
    from training.grpo import parse as parse_grpo
    from training.sft import parse as parse_sft

    parse = parse_sft if name.startswith("sft") else parse_grpo
    script, _, model = parse(["--config", str(CONFIGS / f"{name}.yaml"), *CPU])
    recipe = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    assert not {"video_fps", "max_frames", "video_min_pixels", "video_max_pixels"} & set(recipe)
    assert script.preset() == input_preset("qwen2.5-omni-compact")
    record = script.training_inputs(model.model_name_or_path)
    assert record["input_preset"]["name"] == "qwen2.5-omni-compact"
    assert record["prompt_template"] == {"id": "think.v2", "name": "think", "version": "v2"}
    if name.startswith("sft"):  # the answer-only ablation asks for the letter alone
        answer_only, _, _ = parse(["--config", str(CONFIGS / f"{name}.yaml"), *CPU, "--supervision", "answer"])
        assert answer_only.training_prompt(model.model_name_or_path).template == "default.v2"
    assert (
        record["system_prompt"] == system_prompt_for("Qwen/Qwen2.5-Omni-3B") and "Qwen Team" in record["system_prompt"]
    )
    overridden, _, _ = parse(["--config", str(CONFIGS / f"{name}.yaml"), *CPU, "--max_frames", "8"])
    assert overridden.preset().name == "qwen2.5-omni-compact+max_frames=8" and overridden.preset().max_frames == 8
