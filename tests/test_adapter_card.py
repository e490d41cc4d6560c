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
    assert 'processor_kwargs={"fps": 2.0}' in snippet
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
def test_usage_snippet_runs_with_the_tiny_model(
    tiny_omni_dir: Path, sample_tvqa_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run the card's snippet; only Hub ids, the clip and the full-Omni loader are swapped for local stand-ins."""
    import torch
    import transformers
    from peft import get_peft_model
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    from tests.helpers.tiny_omni import TINY_VIDEOS_KWARGS
    from training.modeling import language_model_lora_pattern

    adapter = tmp_path / "adapter"
    from peft import LoraConfig

    thinker = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(tiny_omni_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=language_model_lora_pattern(None))
    get_peft_model(thinker, config).save_pretrained(adapter)

    class TinyOmni:
        """Stands in for Qwen2_5OmniForConditionalGeneration: a full checkpoint that is only a thinker here."""

        @classmethod
        def from_pretrained(cls, name, **kwargs):
            instance = cls()
            instance.thinker = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(name)
            return instance

        def disable_talker(self):
            self.talker_disabled = True

    monkeypatch.setattr(transformers, "Qwen2_5OmniForConditionalGeneration", TinyOmni)
    clip = shutil.copy(sample_tvqa_root / "videos" / "friends_s01e01_seg02_clip_14.mp4", tmp_path / "clip.mp4")
    snippet = usage_snippet(info(base_model=str(tiny_omni_dir), repo_id=str(adapter), inputs=INPUTS))
    snippet = snippet.replace('"clip.mp4"', json.dumps(str(clip)))
    # The tiny processor needs small frames; the real one uses its defaults.
    small = f'processor_kwargs={{"fps": 2.0, "videos_kwargs": {TINY_VIDEOS_KWARGS!r}}}'
    assert 'processor_kwargs={"fps": 2.0}' in snippet
    snippet = snippet.replace('processor_kwargs={"fps": 2.0}', small)
    snippet = snippet.replace("max_new_tokens=512", "max_new_tokens=4")
    printed = []
    namespace = {"print": printed.append}
    exec(compile(snippet, "usage-snippet", "exec"), namespace)
    assert len(printed) == 1 and isinstance(printed[0], str)
    assert namespace["inputs"]["input_features"].shape[1] == 128  # the clip's audio went in
    assert int(namespace["inputs"]["video_grid_thw"][0, 0]) == 8  # 8 s at 2 fps = 16 frames = 8 temporal patches
    assert isinstance(namespace["output"], torch.Tensor)


def test_push_uploads_the_adapter_folder_at_the_hfapi_boundary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    from training.publish import push_adapter

    folder = tmp_path / "adapter"
    folder.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors", "README.md", "training_args.bin"):
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

        def upload_folder(self, repo_id, repo_type, folder_path, allow_patterns, commit_message):
            import fnmatch

            for path in Path(folder_path).rglob("*"):
                relative = path.relative_to(folder_path).as_posix()
                if path.is_file() and any(fnmatch.fnmatch(relative, p) for p in allow_patterns):
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
