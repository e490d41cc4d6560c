"""Script arguments of the recipes, parsed by trl's ``TrlParser`` with ``SFTConfig``/``GRPOConfig`` and ``ModelConfig``.

A recipe YAML is flat; unknown keys are an error (``TrlParser`` default), never ignored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crossomni
from model_calls.adapters import training_inputs_record
from model_calls.presets import BaseInputs, InputPreset, base_inputs, input_preset, preset_names
from model_calls.redaction import shown
from model_calls.store import load_yaml
from training.data import DataSource
from training.encoding import OmniEncoder
from training.prompting import DEFAULT_PROMPT_TEMPLATE, REASONING_PROMPT_TEMPLATE, TrainingPrompt
from training.rewards import REWARD_NAMES, THINKING_REWARDS

COMPACT_PRESET = "qwen2.5-omni-compact"


def check_recipe_file(args: Sequence[str] | None) -> None:
    """Read the ``--config`` recipe YAML of ``args`` with the project's YAML reader first: a file trl's own
    reader would choke on (not valid YAML, an alias bomb, a recursive anchor, not a mapping) is one
    ``ValueError`` line naming it."""
    args = list(args or [])
    paths = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--config"]
    paths += [arg.split("=", 1)[1] for arg in args if arg.startswith("--config=")]
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path}: the recipe is not a UTF-8 text file") from None
        data = load_yaml(text, path)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a recipe is a mapping of argument names to values, got {shown(data)}")


@dataclass
class CrossOmniArguments:
    """Data, media and Hub settings shared by SFT and GRPO."""

    dataset_name: str | None = field(
        default=None, metadata={"help": "Exported CrossOmni folder or Hub dataset id (load_dataset)."}
    )
    dataset_config: str = field(
        default=crossomni.DEFAULT_CONFIG_NAME, metadata={"help": f"Config: one of {', '.join(crossomni.CONFIG_NAMES)}."}
    )
    dataset_train_split: str = field(default="train", metadata={"help": "Split to train on."})
    release_dir: str | None = field(
        default=None, metadata={"help": "Annotation release folder (instead of dataset_name), read with the builder."}
    )
    tvqa_root: str | None = field(default=None, metadata={"help": "TVQA root for reference-mode media."})
    data_cache_dir: str | None = field(default=None, metadata={"help": "datasets cache folder."})
    input_preset: str | None = field(
        default=None,
        metadata={
            "help": f"Input preset of model_calls/presets.yaml ({', '.join(preset_names())}); recorded. Default: the "
            f"base model family's, the one `crossomni eval` gives the base ({COMPACT_PRESET} for Qwen2.5-Omni)."
        },
    )
    video_fps: float | None = field(default=None, metadata={"help": "Override the preset's frames per second."})
    max_frames: int | None = field(default=None, metadata={"help": "Override the preset's frame cap."})
    video_min_pixels: int | None = field(default=None, metadata={"help": "Override the preset's min frame pixels."})
    video_max_pixels: int | None = field(default=None, metadata={"help": "Override the preset's max frame pixels."})
    audio_in_video: bool | None = field(
        default=None, metadata={"help": "Override the preset's audio-in-video (the clip's audio with its frames)."}
    )
    prompt_template: str | None = field(
        default=None,
        metadata={
            "help": "Evaluation prompt template NAME.VERSION (recorded); default: think.v2 when the target has "
            "reasoning (rationale SFT, GRPO), default.v2 for answer-only SFT."
        },
    )
    system_prompt: str | None = field(
        default=None, metadata={"help": "System prompt (default: the base model family's, as evaluation sends)."}
    )
    adapter_repo_id: str | None = field(
        default=None, metadata={"help": "Push the adapter and its model card to this Hub repo (ORG/NAME) at the end."}
    )
    base_model_id: str | None = field(
        default=None, metadata={"help": "Hub id of the base model for the card (default: model_name_or_path)."}
    )
    eval_results: str | None = field(
        default=None, metadata={"help": "A `crossomni eval` results JSON to put in the card's results table."}
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Train into an output_dir that an earlier run did not write (its files are kept, same-named "
            "ones replaced; never the base model, the data or a folder holding them)."
        },
    )

    def inputs_on_disk(self, model_name_or_path: str) -> dict[str, str | None]:
        """The folders a run reads (its output_dir must never be or hold one of them)."""
        return {
            "the base model": model_name_or_path,
            "the release": self.release_dir,
            "the dataset": self.dataset_name,
            "the TVQA root": self.tvqa_root,
            "the start adapter": getattr(self, "sft_adapter", None),
        }

    def data_source(self) -> DataSource:
        return DataSource(
            dataset_name=self.dataset_name,
            dataset_config=self.dataset_config,
            split=self.dataset_train_split,
            release_dir=self.release_dir,
            tvqa_root=self.tvqa_root,
            cache_dir=self.data_cache_dir,
        )

    def preset(self, model_name_or_path: str | None = None) -> InputPreset:
        """The named preset (default: the base family's, see ``base_inputs``) with any explicit overrides (the name
        then says what changed)."""
        if self.input_preset:
            named = input_preset(self.input_preset)
        elif self.base_model_id or model_name_or_path:
            named = self.base_inputs(model_name_or_path).preset
        else:
            raise ValueError("input_preset: none given, and no base model to take its family's preset from")
        return named.with_overrides(
            fps=self.video_fps,
            max_frames=self.max_frames,
            min_pixels=self.video_min_pixels,
            max_pixels=self.video_max_pixels,
            audio_in_video=self.audio_in_video,
        )

    def training_prompt(self, model_name_or_path: str) -> TrainingPrompt:
        """Template and system prompt of the conversations (the family is the base model's Hub id when given)."""
        if self.system_prompt is None:
            system = self.base_inputs(model_name_or_path).system_prompt
        else:
            system = self.system_prompt or None  # "": no system turn
        template = self.prompt_template or (REASONING_PROMPT_TEMPLATE if self.reasoning else DEFAULT_PROMPT_TEMPLATE)
        return TrainingPrompt(template=template, system_prompt=system)

    def base_inputs(self, model_name_or_path: str | None) -> BaseInputs:
        """The base's family defaults (``model_calls.presets.base_inputs``): by its Hub id when given, else by the
        folder or id it is loaded from (a local checkpoint by its config.json)."""
        return base_inputs(self.base_model_id or "", model_name_or_path)

    @property
    def reasoning(self) -> bool:
        """Whether the completions the model learns carry reasoning before the letter."""
        return True

    def training_inputs(self, model_name_or_path: str) -> dict[str, Any]:
        """What ``crossomni_inputs.json`` beside the adapter records (evaluation reads it back)."""
        prompt = self.training_prompt(model_name_or_path)
        preset = self.preset(model_name_or_path)
        return training_inputs_record(preset.to_json(), prompt.template, prompt.system_prompt)

    def omni_encoder(self, processor: Any, model_name_or_path: str | None = None) -> OmniEncoder:
        """The processor wrapper that turns a row's clip segment and prompt into model inputs."""
        return OmniEncoder(processor, self.preset(model_name_or_path))


@dataclass
class SFTScriptArguments(CrossOmniArguments):
    """SFT: what the assistant turn teaches."""

    supervision: str = field(
        default="rationale",
        metadata={"help": "'rationale' (think block with the rationale, then the letter) or 'answer' (w/o CoT)."},
    )

    @property
    def reasoning(self) -> bool:
        return self.supervision == "rationale"


@dataclass
class GRPOScriptArguments(CrossOmniArguments):
    """GRPO: starting adapter, instance sampling, rewards and the judge."""

    sft_adapter: str | None = field(default=None, metadata={"help": "SFT adapter (folder or Hub id) to start from."})
    num_train_instances: int = field(default=982, metadata={"help": "Instances sampled for GRPO."})
    balance_by: str = field(default="task_type", metadata={"help": "task_type, source_modality or target_modality."})
    sample_seed: int = field(default=42, metadata={"help": "Seed of the balanced sample."})
    rewards: list[str] = field(
        default_factory=lambda: list(REWARD_NAMES), metadata={"help": f"Rewards, from {', '.join(REWARD_NAMES)}."}
    )
    thinking_rewards: bool = field(
        default=True, metadata={"help": "False drops the two judge rewards (the paper's 'w/o T-R' ablation)."}
    )
    judge_backend: str = field(default="openai", metadata={"help": "Model-call backend of the judge."})
    judge_model: str = field(default="Qwen/Qwen3-Next-80B-A3B-Instruct", metadata={"help": "Judge model name."})
    judge_backend_kwargs: dict | str | None = field(
        default=None, metadata={"help": "Backend constructor arguments (mapping or JSON), e.g. base_url."}
    )
    judge_cache: str | None = field(default=None, metadata={"help": "sqlite file caching judge replies."})
    judge_max_tokens: int = field(default=8, metadata={"help": "Judge reply budget (the reply is one integer)."})

    def reward_names(self) -> list[str]:
        if self.thinking_rewards:
            return list(self.rewards)
        return [name for name in self.rewards if name not in THINKING_REWARDS]

    def backend_kwargs(self) -> dict[str, Any]:
        value = self.judge_backend_kwargs
        if value is None or value == "":
            return {}
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, dict):
            raise ValueError(f"judge_backend_kwargs must be a mapping, got {type(value).__name__}")
        return dict(value)
