"""The adapter model card: valid YAML metadata, results table, a usage snippet that runs, push at the HfApi boundary."""

from __future__ import annotations

import ast
import importlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from model_cards.adapter_card import AdapterCardInfo, render_adapter_card, usage_snippet, write_adapter_card

INPUTS = {
    "input_preset": {
        "name": "qwen2.5-omni-compact", "fps": 2.0, "max_frames": 32, "min_pixels": 3136, "max_pixels": 100352,
        "sampling_rate": 16000, "audio_in_video": True,
    },
    "prompt_template": {"id": "default.v1", "name": "default", "version": "v1"},
    "system_prompt": "You are Qwen, a virtual human.",
}  # fmt: skip
RESULTS = {"overall": 0.5859, "single": 0.676, "cross": 0.557, "audio": 0.4633, "vision_to_text": 0.6525}


def info(**overrides) -> AdapterCardInfo:
    values = {
        "stage": "grpo",
        "base_model": "Qwen/Qwen2.5-Omni-3B",
        "repo_id": "me/crossomni-grpo-3b",
        "dataset": "me/crossomni",
        "recipe": {"learning rate": 5e-6, "rollouts per prompt": 4},
        "rewards": [("format", 1.0, "think block then letter"), ("coherence", 0.5, "judge 0-3")],
    }
    values.update(overrides)
    return AdapterCardInfo(**values)


def metadata(card_text: str) -> dict:
    _, header, _ = card_text.split("---\n", 2)
    return yaml.safe_load(header)


def test_card_metadata_is_valid_yaml_with_hub_ids(tmp_path: Path) -> None:
    path = write_adapter_card(tmp_path, info(results=RESULTS))
    meta = metadata(path.read_text())
    assert meta["base_model"] == "Qwen/Qwen2.5-Omni-3B"
    assert meta["library_name"] == "peft" and meta["datasets"] == ["me/crossomni"]
    assert {"crossomni", "lora", "grpo", "peft"} <= set(meta["tags"])
    assert meta["license"] == "other" and meta["license_name"] == "qwen-research"
    results = meta["model-index"][0]["results"]
    assert {m["value"] for r in results for m in r["metrics"]} == {58.59, 67.6, 55.7}
    # huggingface_hub reads it back, and re-rendering replaces the card instead of appending to it
    from huggingface_hub import ModelCard

    loaded = ModelCard.load(path)
    assert loaded.data.base_model == "Qwen/Qwen2.5-Omni-3B"
    write_adapter_card(tmp_path, info(results=RESULTS))
    assert path.read_text().count("## Usage") == 1


def test_card_body_has_recipe_rewards_and_results() -> None:
    text = str(render_adapter_card(info(results=RESULTS)))
    assert "| learning rate | 5e-06 |" in text and "| coherence | 0.5 | judge 0-3 |" in text
    assert "| overall | 58.59 |" in text and "| Au | 46.33 |" in text and "| Vi→Te | 65.25 |" in text
    assert "peft:" in text and "trl:" in text  # framework versions from importlib.metadata
    no_results = str(render_adapter_card(info(stage="sft", rewards=[])))
    assert "## Results" not in no_results and "### Rewards" not in no_results
    assert "apache-2.0" in str(render_adapter_card(info(base_model="Qwen/Qwen2.5-Omni-7B")))


def test_local_base_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Hub id"):
        render_adapter_card(info(base_model=str(tmp_path)))
    with pytest.raises(ValueError, match="stage"):
        render_adapter_card(info(stage="dpo"))


def test_usage_snippet_imports_resolve() -> None:
    snippet = usage_snippet(info(inputs=INPUTS))
    assert '{"role": "system", "content": \'You are Qwen, a virtual human.\'}' in snippet
    size = '"size": {"shortest_edge": 3136, "longest_edge": 100352}'
    frames = f'frames = {{"fps": 2.0, "max_frames": 32, {size}, "cap_pixels_per_frame": True}}'
    assert frames in snippet and "processor_kwargs=frames" in snippet  # the preset the adapter was trained on
    assert "Qwen2_5OmniForConditionalGeneration.from_pretrained" in snippet and "disable_talker" in snippet
    thinker = usage_snippet(info(inputs=INPUTS, thinker_only=True))
    assert "Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained" in thinker and "talker" not in thinker
    tree = ast.parse(snippet)
    imported = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module}.{alias.name}"
                imported += 1
        elif isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
                imported += 1
    assert imported >= 4


@pytest.mark.slow
def test_usage_snippet_runs_as_written_on_the_thinker_it_names(tiny_omni_dir: Path, sample_tvqa_root: Path, tmp_path):
    """The card of an adapter trained on a thinker-only base: its code runs with only the paths the card says to
    replace (base, adapter, clip) replaced; nothing is swapped for a stand-in."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    from model_cards.adapter_card import LOCAL_BASE
    from training.modeling import language_model_lora_pattern

    adapter = tmp_path / "adapter"
    thinker = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(tiny_omni_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=language_model_lora_pattern(None))
    get_peft_model(thinker, config).save_pretrained(adapter)
    clip = shutil.copy(sample_tvqa_root / "videos" / "friends_s01e01_seg02_clip_14.mp4", tmp_path / "clip.mp4")

    card = str(render_adapter_card(info(base_model=None, repo_id="me/crossomni-sft", inputs=INPUTS, thinker_only=True)))
    assert f"Replace `{LOCAL_BASE}` by the base it was trained on, `me/crossomni-sft` by this" in card
    snippet = card.split("```python\n", 1)[1].split("```", 1)[0]
    for placeholder, path in ((LOCAL_BASE, tiny_omni_dir), ("me/crossomni-sft", adapter), ("clip.mp4", clip)):
        assert f'"{placeholder}"' in snippet
        snippet = snippet.replace(f'"{placeholder}"', json.dumps(str(path)))
    printed = []
    namespace = {"print": printed.append}
    exec(compile(snippet, "card-usage", "exec"), namespace)
    assert len(printed) == 1 and isinstance(printed[0], str)
    assert namespace["inputs"]["input_features"].shape[1] == 128  # the clip's audio went in
    # 8 s at 2 fps = 16 frames = 8 temporal patches; 96x64 frames inside the preset's pixel bounds: 4 x 6 patches
    assert namespace["inputs"]["video_grid_thw"].tolist() == [[8, 4, 6]]
    assert isinstance(namespace["output"], torch.Tensor)


def test_push_uploads_the_adapter_folder_at_the_hfapi_boundary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    from model_calls.outputs import MARKER
    from training.publish import push_adapter

    folder = tmp_path / "adapter"
    folder.mkdir()
    # the run folder's marker (model_calls.outputs) is a .json file too: it stays home
    for name in ("adapter_config.json", "adapter_model.safetensors", "README.md", "training_args.bin", MARKER):
        (folder / name).write_bytes(b"x")
    (folder / "checkpoint-1").mkdir()
    (folder / "checkpoint-1" / "optimizer.pt").write_bytes(b"x")
    hub = tmp_path / "hub"
    made = []

    class LocalHub:
        def __init__(self, token=None):
            self.token = token

        def create_repo(self, repo_id, repo_type=None, private=False, exist_ok=False):
            made.append((repo_id, repo_type, exist_ok))

        def upload_folder(self, repo_id, repo_type, folder_path, allow_patterns, commit_message, ignore_patterns=()):
            import fnmatch

            for path in Path(folder_path).rglob("*"):
                relative = path.relative_to(folder_path).as_posix()
                ignored = any(fnmatch.fnmatch(relative, p) for p in ignore_patterns)
                if path.is_file() and any(fnmatch.fnmatch(relative, p) for p in allow_patterns) and not ignored:
                    target = hub / repo_id / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(path, target)
            return type("Commit", (), {"commit_url": f"https://hub.local/{repo_id}/commit/1"})()

    monkeypatch.setattr(huggingface_hub, "HfApi", LocalHub)
    url = push_adapter(folder, "me/crossomni-sft-3b", token="hf_secret")
    assert url == "https://hub.local/me/crossomni-sft-3b/commit/1"
    assert made == [("me/crossomni-sft-3b", "model", True)]
    pushed = sorted(p.name for p in (hub / "me" / "crossomni-sft-3b").rglob("*") if p.is_file())
    assert pushed == ["README.md", "adapter_config.json", "adapter_model.safetensors"]  # no pickles, no checkpoints


def test_card_says_what_the_adapter_was_trained_on() -> None:
    card = str(render_adapter_card(info(inputs=INPUTS)))
    assert "## Inputs it was trained on" in card and "--allow-input-mismatch" in card
    for row in (
        "| input preset | `qwen2.5-omni-compact` |",
        "| frames | 2.0 per second, at most 32 |",
        "| pixels per frame | 3136 to 100352 |",
        "| audio | 16000 Hz mono, interleaved with the frames |",
        "| prompt template | `default.v1` |",
        "| system prompt | 'You are Qwen, a virtual human.' |",
    ):
        assert row in card
    assert "## Inputs it was trained on" not in str(render_adapter_card(info()))


def test_card_without_a_hub_base_or_dataset_names_neither() -> None:
    card = str(render_adapter_card(info(base_model=None, dataset=None, results=RESULTS)))
    meta = metadata(card)
    assert "base_model" not in meta and "datasets" not in meta and "license" not in meta
    assert "model-index" not in meta  # a model-index must name the Hub dataset it was scored on
    assert "| overall | 58.59 |" in card  # the results table stays
    assert "a local Qwen2.5-Omni checkpoint" in card and "huggingface.co/None" not in card
    assert 'from_pretrained("PATH/TO/BASE_MODEL")' in card and "crossomni eval --model PATH/TO/BASE_MODEL" in card
    with pytest.raises(ValueError, match="dataset must be a Hub id"):
        render_adapter_card(info(dataset="/data/crossomni"))


def _grpo_args(tmp_path: Path, *extra: str):
    from training.grpo import parse

    return parse(
        [
            "--model_name_or_path", "Qwen/Qwen2.5-Omni-3B",
            "--output_dir", str(tmp_path / "grpo-run"),
            "--num_generations", "2", "--per_device_train_batch_size", "2",
            "--use_cpu", "true", "--bf16", "false", "--report_to", "none",
            *extra,
        ]
    )  # fmt: skip


def _trainer_with_log(log_history: list[dict], global_step: int):
    from types import SimpleNamespace

    from transformers import TrainerState

    return SimpleNamespace(state=TrainerState(global_step=global_step, log_history=log_history))


def test_grpo_card_lists_only_what_was_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers.hub_cache import fake_hub_files
    from training.publish import card_info

    log = [{"loss": 0.5, "step": 1}, {"loss": 0.25, "step": 2}, {"loss": 0.375, "step": 3}, {"train_loss": 0.4}]
    trainer = _trainer_with_log(log, global_step=3)
    local_sft = str(tmp_path / "sft-adapter")
    Path(local_sft).mkdir()
    lora = {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "lora_dropout": 0.1, "target_modules": ["q_proj"]}
    (Path(local_sft) / "adapter_config.json").write_text(json.dumps(lora))
    judged = card_info(
        "grpo",
        trainer,
        *_grpo_args(tmp_path, "--sft_adapter", local_sft),
        train_size=9,
        base_model="Qwen/Qwen2.5-Omni-3B",
    )
    text = str(render_adapter_card(judged))
    assert "| judge | Qwen/Qwen3-Next-80B-A3B-Instruct (openai) |" in text and "| consistency | 1.0 |" in text
    assert "| start adapter | a local SFT adapter (path not published) |" in text and local_sft not in text
    assert "thinking rewards scored by an LLM judge) on top of a LoRA SFT adapter" in text
    # GRPO keeps training the start adapter's LoRA: its shape, not the recipe's unused lora_r (16)
    assert "| LoRA r / alpha / dropout | 8 / 16 / 0.1 (the start adapter's) |" in text
    # the loss rows are the log history's numbers: first 0.5, last 0.375, lowest 0.25 at step 2, 3 steps
    for row in ("| first loss | 0.5 (step 1) |", "| last loss | 0.375 (step 3) |", "| lowest loss | 0.25 (step 2) |"):
        assert row in text
    assert "| optimizer steps | 3 |" in text and "| logged points | 3 |" in text
    # 3 steps of 2 completions per device = 1 prompt x 2 rollouts: 3 prompts seen, not the 9 sampled
    assert "| training prompts seen | 3 (3 optimizer steps; 9 sampled from the split) |" in text
    # the rewards as the code computes them: accuracy pays only the strict `</think>` + letter form
    assert "| accuracy | 1.0 | that strict form (`</think>`, then one upper-case letter alone)" in text
    assert "the chosen letter is the answer" not in text

    fake_hub_files(monkeypatch, tmp_path / "hf", "me/crossomni-sft", {"adapter_config.json": {**lora, "r": 4}})
    extra = ("--thinking_rewards", "false", "--sft_adapter", "me/crossomni-sft", "--dataset_name", "crossomni")
    plain = card_info("grpo", trainer, *_grpo_args(tmp_path, *extra), train_size=9, base_model="Qwen/Qwen2.5-Omni-3B")
    text = str(render_adapter_card(plain))
    assert "| judge |" not in text and "LLM judge" not in text and "| consistency |" not in text
    assert "GRPO (format and accuracy rewards) on top of a LoRA SFT adapter" in text
    assert "| start adapter | me/crossomni-sft |" in text and "| LoRA r / alpha / dropout | 4 / 16 / 0.1" in text
    assert "datasets" not in metadata(text)  # "crossomni" is a local folder name, not a Hub dataset
    hub_data = card_info("grpo", trainer, *_grpo_args(tmp_path, "--dataset_name", "me/crossomni"), train_size=9)
    assert hub_data.dataset == "me/crossomni" and "start adapter" not in hub_data.recipe
    assert "on a new LoRA" in hub_data.stage_description
    assert hub_data.recipe["LoRA r / alpha / dropout"] == "16 / 32 / 0.05"  # the new LoRA is the recipe's


def test_answer_only_sft_card_does_not_promise_reasoning(tmp_path: Path) -> None:
    from training.publish import card_info
    from training.sft import parse

    args = parse(
        [
            "--model_name_or_path", "Qwen/Qwen2.5-Omni-3B", "--output_dir", str(tmp_path / "sft"),
            "--supervision", "answer", "--use_cpu", "true", "--bf16", "false", "--report_to", "none",
        ]
    )  # fmt: skip
    card = card_info("sft", _trainer_with_log([], 0), *args, train_size=9, base_model="Qwen/Qwen2.5-Omni-3B")
    text = str(render_adapter_card(card))
    assert "answer-letter targets" in text and "answer with the letter alone" in text and "<think>" not in text
    assert card.loss is None and "### Training loss" not in text


def test_base_hub_id_is_confirmed_against_the_local_config(
    tiny_omni_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoConfig

    from tests.helpers.hub_cache import fake_hub_config
    from training.publish import confirmed_hub_base

    tiny = json.loads((tiny_omni_dir / "config.json").read_text())
    fake_hub_config(monkeypatch, tmp_path, "acme/tiny-omni", tiny)
    other = json.loads(json.dumps(tiny))
    other["text_config"]["vocab_size"] *= 2
    other["audio_config"]["d_model"] *= 2
    fake_hub_config(monkeypatch, tmp_path, "acme/other-omni", other)
    invalid = json.loads(json.dumps(tiny))
    invalid["text_config"]["num_hidden_layers"] += 1  # no longer one layer type per layer
    fake_hub_config(monkeypatch, tmp_path, "acme/invalid-omni", invalid)
    assert AutoConfig.from_pretrained("acme/tiny-omni", local_files_only=True).model_type == tiny["model_type"]

    local = str(tiny_omni_dir)
    assert confirmed_hub_base(local, "acme/tiny-omni")[0] == "acme/tiny-omni"
    hub_id, why = confirmed_hub_base(local, "acme/other-omni")
    assert hub_id is None and "does not match base_model_id acme/other-omni" in why
    vocab = tiny["text_config"]["vocab_size"]
    assert f"text_config.vocab_size {vocab} vs {2 * vocab}" in why and "audio_config.d_model" in why
    hub_id, why = confirmed_hub_base(local, "acme/invalid-omni")
    assert hub_id is None and "cached config is invalid" in why and "\n" not in why
    hub_id, why = confirmed_hub_base(local, "acme/not-cached")
    assert hub_id is None and "not in the local HF cache" in why
    assert confirmed_hub_base(local, None) == (
        None,
        f"the base {local} is a local folder and no base_model_id was given",
    )
    assert confirmed_hub_base("Qwen/Qwen2.5-Omni-3B", None)[0] == "Qwen/Qwen2.5-Omni-3B"  # a Hub id is itself


def test_loss_plot_is_written_from_the_summary(tmp_path: Path) -> None:
    from model_cards.adapter_card import LossSummary, write_loss_plot

    loss = LossSummary(steps=(5, 10, 15), losses=(2.0, 1.0, 1.5), total_steps=15)
    assert (loss.first, loss.last, loss.min_step) == (2.0, 1.5, 10)
    path = write_loss_plot(tmp_path, loss, title="SFT run")
    assert path.name == "training_loss.png" and path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="one logged step per loss"):
        LossSummary(steps=(1,), losses=(), total_steps=1)


def test_planted_keys_reach_no_file_of_the_adapter_folder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A judge API key (judge_backend_kwargs), a Hub token and an HF_TOKEN in the environment: what a finished
    GRPO run writes beside the adapter (inputs record, card, loss plot) and logs holds none of them."""
    import logging
    import os
    from unittest import mock

    from training.publish import finish_run

    planted = ["sk-PlAnTeD-judge-0a9f", "hf_PlAnTeDhubtoken0a9f", "hf_PlAnTeDenvtoken0a9f"]
    kwargs = json.dumps({"base_url": "http://localhost:8001/v1", "api_key": planted[0]})
    script_args, training_args, model_args = _grpo_args(
        tmp_path, "--judge_backend_kwargs", kwargs, "--hub_token", planted[1]
    )
    trainer = _trainer_with_log([{"loss": 0.5, "step": 1}, {"loss": 0.25, "step": 2}], global_step=2)
    trainer.is_world_process_zero = lambda: True
    folder = Path(training_args.output_dir)
    folder.mkdir(parents=True)
    caplog.set_level(logging.DEBUG)
    with mock.patch.dict(os.environ, {"HF_TOKEN": planted[2]}):
        finish_run("grpo", trainer, script_args, training_args, model_args, train_size=9)
    written = sorted(path for path in folder.rglob("*") if path.is_file())
    assert {path.name for path in written} >= {"README.md", "crossomni_inputs.json", "training_loss.png"}
    for path in written:
        data = path.read_bytes()
        assert not any(secret.encode() in data for secret in planted), path.name
    assert not any(secret in caplog.text for secret in planted)


def test_sft_card_counts_the_instances_seen_and_says_synthetic_sample(tmp_path: Path) -> None:
    from training.publish import card_info
    from training.sft import parse

    args = parse(
        [
            "--model_name_or_path", "Qwen/Qwen2.5-Omni-3B", "--output_dir", str(tmp_path / "sft"),
            "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "3", "--max_steps", "2",
            "--use_cpu", "true", "--bf16", "false", "--report_to", "none",
        ]
    )  # fmt: skip
    trainer = _trainer_with_log([{"loss": 0.5, "step": 1}], global_step=2)
    card = card_info("sft", trainer, *args, train_size=178, base_model="Qwen/Qwen2.5-Omni-3B", synthetic=True)
    text = str(render_adapter_card(card))
    assert "| training instances seen | 12 (2 optimizer steps; 178 in the split) |" in text
    assert "trained on\nthe **synthetic CrossOmni sample**" in text and "not a model trained on" in text
    assert "**synthetic" not in str(render_adapter_card(info()))


def test_synthetic_data_is_recognised_from_the_release_or_the_export_card(sample_release: Path, tmp_path: Path) -> None:
    from builder.export import export_release
    from training.data import DataSource, is_synthetic

    assert is_synthetic(DataSource(release_dir=str(sample_release)))
    export = export_release(sample_release, tmp_path / "crossomni").out_dir
    assert "synthetic" in metadata((export / "README.md").read_text())["tags"]
    assert is_synthetic(DataSource(dataset_name=str(export)))
    real = tmp_path / "real"
    real.mkdir()
    (real / "README.md").write_text("---\ntags:\n- tvqa\n---\n# a TVQA build\n")
    assert not is_synthetic(DataSource(dataset_name=str(real)))
    assert not is_synthetic(DataSource(dataset_name="nobody/not-cached"))  # offline, unknown: not claimed
