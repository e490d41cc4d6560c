"""SFT on the sample with the tiny Qwen2.5-Omni: media in the batch, loss on the answer only, LoRA round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.tiny_omni import MAX_PIXELS, MIN_PIXELS, TINY_TRAINING_ARGS

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO / "builder" / "sample" / "release"
HUB_ID = "crossomni-test/tiny-omni"  # made up: only the test's fake Hub cache holds it
OTHER_HUB_ID = "crossomni-test/wider-omni"
TRL_STOCK_TEXT = "fine-tuned version of [None]"


@pytest.fixture(scope="module")
def train_rows(sample_tvqa_root: Path, tmp_path_factory: pytest.TempPathFactory):
    from training.data import DataSource, load_split

    source = DataSource(
        release_dir=str(RELEASE),
        tvqa_root=str(sample_tvqa_root),
        cache_dir=str(tmp_path_factory.mktemp("sft_data")),
    )
    return load_split(source)


def tiny_preset():
    from model_calls.presets import input_preset

    return input_preset("qwen2.5-omni").with_overrides(
        fps=1.0, max_frames=8, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS
    )


def make_collator(tiny_omni_dir: Path, supervision: str = "rationale"):
    from transformers import AutoProcessor

    from training.collator import OmniSFTCollator
    from training.encoding import OmniEncoder

    encoder = OmniEncoder(AutoProcessor.from_pretrained(tiny_omni_dir), tiny_preset())
    return OmniSFTCollator(encoder, supervision=supervision)


def test_collator_masks_the_prompt_and_carries_media(tiny_omni_dir: Path, train_rows) -> None:
    import torch

    collator = make_collator(tiny_omni_dir)
    rows = [train_rows[0], train_rows[5]]
    batch = collator(rows)
    tokenizer = collator.encoder.processor.tokenizer
    for i, row in enumerate(rows):
        taught = batch["labels"][i][batch["labels"][i] != -100]
        text = tokenizer.decode(taught)
        assert text.startswith("<think>\n" + row["rationale"].strip()[:20])
        # the taught turn ends with the end-of-turn token itself: the template's newline after it is not a label
        assert text.endswith(f"</think>\n{row['answer']}<|im_end|>")
        assert int(taught[-1]) == tokenizer.convert_tokens_to_ids("<|im_end|>")
        # every taught token follows the whole prompt: no label on the question, biography or media
        first = int((batch["labels"][i] != -100).nonzero()[0])
        assert row["question"] in tokenizer.decode(batch["input_ids"][i][:first])
        assert (batch["labels"][i][batch["attention_mask"][i] == 0] == -100).all()
    audio_id = tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    assert ((batch["input_ids"] == audio_id).sum(-1) > 0).all()
    assert batch["video_grid_thw"].shape[0] == 2 and batch["input_features"].shape[0] == 2
    assert batch["pixel_values_videos"].shape[0] == int(batch["video_grid_thw"].prod(-1).sum())
    assert batch["use_audio_in_video"] is True
    answer_only = make_collator(tiny_omni_dir, supervision="answer")([rows[0]])
    taught = answer_only["labels"][0][answer_only["labels"][0] != -100]
    assert tokenizer.decode(taught) == f"{rows[0]['answer']}<|im_end|>"
    assert torch.isfinite(answer_only["input_features"]).all()


def test_trimmed_audio_padding_gives_identical_logits(tiny_omni_dir: Path, train_rows) -> None:
    import torch
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    collator = make_collator(tiny_omni_dir)
    batch = collator([train_rows[0]])
    model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(tiny_omni_dir).eval()
    padded = dict(batch)
    extra = 3000 - batch["input_features"].shape[-1]
    padded["input_features"] = torch.nn.functional.pad(batch["input_features"], (0, extra))
    padded["feature_attention_mask"] = torch.nn.functional.pad(batch["feature_attention_mask"], (0, extra))
    with torch.no_grad():
        trimmed_logits = model(**batch).logits
        padded_logits = model(**padded).logits
    torch.testing.assert_close(trimmed_logits, padded_logits)


def test_too_long_prompt_is_a_clear_error(tiny_omni_dir: Path, train_rows) -> None:
    collator = make_collator(tiny_omni_dir)
    collator.max_length = 16
    with pytest.raises(ValueError, match=f"instance {train_rows[0]['id']}: the prompt alone"):
        collator([train_rows[0]])


@pytest.mark.slow
def test_sft_two_steps_then_lora_round_trip(
    tiny_omni_dir: Path, sample_tvqa_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    import shutil

    import torch
    import yaml
    from peft import PeftModel
    from transformers import AutoConfig, Qwen2_5OmniThinkerForConditionalGeneration
    from trl import SFTTrainer
    from typer.testing import CliRunner

    from builder.export import export_release
    from crossomni_cli import app
    from model_calls.presets import system_prompt_for
    from tests.helpers.hub_cache import fake_hub_config
    from training.publish import finish_run
    from training.sft import main, parse

    # A made-up Hub id whose cached config is the tiny model's (the base's Hub id is confirmed offline), and one
    # whose config differs in the language model's width.
    tiny_config = json.loads((tiny_omni_dir / "config.json").read_text())
    fake_hub_config(monkeypatch, tmp_path / "hf", HUB_ID, tiny_config)
    wider = json.loads(json.dumps(tiny_config))
    wider["text_config"]["hidden_size"] *= 2
    fake_hub_config(monkeypatch, tmp_path / "hf", OTHER_HUB_ID, wider)
    assert AutoConfig.from_pretrained(HUB_ID, local_files_only=True).model_type == tiny_config["model_type"]

    out = tmp_path / "sft"
    args = [
        "--model_name_or_path", str(tiny_omni_dir),
        "--base_model_id", HUB_ID,
        "--release_dir", str(RELEASE),
        "--tvqa_root", str(sample_tvqa_root),
        "--data_cache_dir", str(tmp_path / "cache"),
        "--output_dir", str(out),
        "--use_peft", "--lora_r", "8", "--lora_alpha", "16",
        "--learning_rate", "5e-3", "--max_steps", "2", "--per_device_train_batch_size", "2",
        *TINY_TRAINING_ARGS,
    ]  # fmt: skip
    script, train, model_args = parse(args)
    history = {}
    original = SFTTrainer.train

    def train_and_keep(self, *a, **k):
        result = original(self, *a, **k)
        history["logs"] = [e for e in self.state.log_history if "loss" in e]
        history["model"] = self.model
        history["trainer"] = self
        history["batch"] = next(iter(self.get_train_dataloader()))
        return result

    monkeypatch.setattr(SFTTrainer, "train", train_and_keep)
    folder = main(script, train, model_args)
    losses = [float(entry["loss"]) for entry in history["logs"]]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[0] != losses[1]

    # Adapter on the language model only, saved with its card, base recorded as the confirmed Hub id.
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == HUB_ID and "language_model" in config["target_modules"]
    card = (folder / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n", 2)[1])
    assert meta["base_model"] == HUB_ID and "datasets" not in meta  # trained on a local release: no Hub dataset
    assert TRL_STOCK_TEXT not in card and f"crossomni eval --model {HUB_ID} --adapter" in card
    # The loss the trainer logged, summarised in the card and plotted beside it.
    assert f"| first loss | {losses[0]:.4g} (step 1) |" in card and f"| last loss | {losses[-1]:.4g} (step 2) |" in card
    assert f"| lowest loss | {min(losses):.4g} (step {losses.index(min(losses)) + 1}) |" in card
    assert "| optimizer steps | 2 |" in card and "![Training loss per optimizer step](training_loss.png)" in card
    # what happened: 2 steps x 2 instances of the 18, on the synthetic sample, on a thinker-only base
    assert "| training instances seen | 4 (2 optimizer steps; 18 in the split) |" in card
    assert "the **synthetic CrossOmni sample**" in card
    assert "Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(" in card and "disable_talker" not in card
    assert (folder / "training_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A local base whose base_model_id does not match, or cannot be checked offline: no base_model in the card
    # (written over trl's stock card), adapter_config.json keeps the local path, and the log says why.
    trainer = history["trainer"]
    for hub_id, reason in (
        (OTHER_HUB_ID, f"does not match base_model_id {OTHER_HUB_ID}: text_config.hidden_size"),
        ("Qwen/Qwen2.5-Omni-3B", "its config is not in the local HF cache"),
    ):
        other = Path(shutil.copytree(folder, tmp_path / hub_id.replace("/", "_")))
        (other / "adapter_config.json").write_text(
            json.dumps({**config, "base_model_name_or_path": str(tiny_omni_dir)})
        )
        train.output_dir = str(other)
        trainer.create_model_card()  # what trl leaves in the folder
        assert TRL_STOCK_TEXT in (other / "README.md").read_text()
        script.base_model_id = hub_id
        caplog.clear()
        finish_run("sft", trainer, script, train, model_args, train_size=18)
        (warning,) = [r.getMessage() for r in caplog.records if r.name == "training.publish"]
        assert "model card without base_model" in warning and reason in warning
        assert json.loads((other / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_omni_dir)
        card_text = (other / "README.md").read_text()
        assert TRL_STOCK_TEXT not in card_text and 'model="None"' not in card_text
        assert "base_model" not in yaml.safe_load(card_text.split("---\n", 2)[1])
        assert (
            "crossomni eval --model PATH/TO/BASE_MODEL" in card_text
            and "a local Qwen2.5-Omni thinker-only checkpoint" in card_text
        )
        recorded = json.loads((other / "crossomni_inputs.json").read_text())["base_model"]
        assert recorded == {"loaded": str(tiny_omni_dir), "hub_id": None}
    script.base_model_id, train.output_dir = HUB_ID, str(folder)

    # The adapter records what it was trained on: the preset's values, the template, the family's system prompt.
    record = json.loads((folder / "crossomni_inputs.json").read_text())
    preset = record["input_preset"]
    assert preset == script.preset(model_args.model_name_or_path).to_json()
    assert preset["name"] == "qwen2.5-omni-compact+fps=1.0+max_frames=8+max_pixels=6272"  # the family's preset
    assert (preset["fps"], preset["max_frames"], preset["audio_in_video"]) == (1.0, 8, True)
    # rationale SFT asks for the shape it teaches: reasoning in <think>, then the letter
    assert record["prompt_template"] == {"id": "think.v2", "name": "think", "version": "v2"}
    # the tiny base is a Qwen2.5-Omni checkpoint by its config.json: its family's prompt, as eval of it sends
    assert record["system_prompt"] == system_prompt_for(str(tiny_omni_dir)) and "Qwen Team" in record["system_prompt"]
    assert record["base_model"] == {"loaded": str(tiny_omni_dir), "hub_id": HUB_ID}
    assert f"| input preset | `{preset['name']}` |" in card and "| prompt template | `think.v2` |" in card

    # save -> PeftModel.from_pretrained gives the trained model's logits on a media batch.
    batch = {k: v for k, v in history["batch"].items() if k != "labels"}
    trained = history["model"].eval()
    base = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(tiny_omni_dir)
    reloaded = PeftModel.from_pretrained(base, folder).eval()
    with torch.no_grad():
        expected = trained(**batch).logits
        got = reloaded(**batch).logits
        plain = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(tiny_omni_dir)(**batch).logits
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(got, plain)  # the adapter changed something

    # `crossomni eval --adapter` evaluates on the recorded inputs; other inputs are refused in one line.
    export = tmp_path / "export"
    export_release(RELEASE, export, tvqa_root=sample_tvqa_root, media="embed")
    common = ["eval", "--model", str(tiny_omni_dir), "--dataset", str(export), "--adapter", str(folder)]
    common += ["--quiet", "--limit", "2", "--max-new-tokens", "2"]
    result = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "eval" / "run.json").read_text())
    assert meta["training_inputs"] == record and meta["input_mismatches"] == []
    assert meta["identity"]["input_config"]["preset"] == preset
    assert meta["identity"]["input_config"]["system_prompt"] == record["system_prompt"]
    assert meta["identity"]["prompt_id"] == "think.v2"  # the template the adapter recorded
    # --model is the folder the adapter was trained on (its Hub id is recorded too): no base warning
    assert meta["base_model_mismatch"] is None and "warning" not in result.stderr
    refused = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "x"), "--input-preset", "qwen2.5-omni"])
    assert refused.exit_code == 2 and not (tmp_path / "x").exists()
    (line,) = refused.output.strip().splitlines()
    assert "trained on other inputs: input preset qwen2.5-omni" in line and "--allow-input-mismatch" in line
    other = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "y"), "--prompting", "cot"])
    assert other.exit_code == 2 and "prompt cot.v2 (adapter: think.v2)" in other.output
    allowed = [*common, "--out", str(tmp_path / "z"), "--prompting", "cot", "--allow-input-mismatch", "--limit", "1"]
    assert CliRunner().invoke(app, allowed).exit_code == 0
    assert json.loads((tmp_path / "z" / "run.json").read_text())["input_mismatches"] == [
        "prompt cot.v2 (adapter: think.v2)"
    ]


def test_train_prints_what_it_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from typer.testing import CliRunner

    from crossomni_cli import app
    from training import sft

    folder = tmp_path / "run"
    folder.mkdir()
    stale = folder / "notes.txt"  # left by an earlier run: not this run's output
    stale.write_text("old")
    os.utime(stale, (1_000_000_000, 1_000_000_000))

    def fake_main(script, training_args, model_args, hub_id=None):
        record = {"base_model": {"loaded": "/models/tiny", "hub_id": hub_id}}
        (folder / "crossomni_inputs.json").write_text(json.dumps(record))
        (folder / "README.md").write_text("card")
        (folder / "adapter_model.safetensors").write_bytes(b"x")
        return folder

    cpu = ["--bf16", "false", "--use_cpu", "true", "--dtype", "float32"]
    args = ["train", "sft", "--config", "sft_qwen2.5-omni-3b", "--output_dir", str(folder), *cpu]
    monkeypatch.setattr(sft, "main", fake_main)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == (
        f"saved to {folder}: README.md (model card without base_model), "
        "adapter_model.safetensors, crossomni_inputs.json"
    )
    monkeypatch.setattr(sft, "main", lambda *parsed: fake_main(*parsed, hub_id="acme/tiny-omni"))
    result = CliRunner().invoke(app, args)
    assert "README.md (model card, base_model acme/tiny-omni)" in result.stdout and "notes.txt" not in result.stdout
