"""The model card (``README.md``) of a CrossOmni LoRA adapter: ``ModelCardData`` + the shipped Jinja template.

``base_model`` is always a Hub id (never a local path), ``library_name`` is ``peft``, the recipe
and (when an eval run is given) the results table are filled from the run, and the usage snippet
loads processor + base thinker + adapter and answers one prompt.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import crossomni

TEMPLATE = "adapter_card.md.jinja"
DEFAULT_DATASET = "crossomni"
# Licences of the bases the recipes use (an adapter follows its base model's terms).
BASE_LICENSES: dict[str, dict[str, str]] = {
    "Qwen/Qwen2.5-Omni-7B": {"license": "apache-2.0"},
    "Qwen/Qwen2.5-Omni-3B": {
        "license": "other",
        "license_name": "qwen-research",
        "license_link": "https://huggingface.co/Qwen/Qwen2.5-Omni-3B/blob/main/LICENSE",
    },
}
STAGES: dict[str, str] = {
    "sft": "LoRA supervised fine-tuning on rationale-then-answer targets",
    "grpo": "GRPO (format, accuracy and LLM-judged thinking rewards) on top of a LoRA SFT adapter",
}
VERSIONED_PACKAGES: tuple[str, ...] = ("crossomni", "peft", "trl", "transformers", "torch", "datasets")

USAGE = """\
import torch
from peft import PeftModel
from transformers import AutoProcessor, Qwen2_5OmniForConditionalGeneration

processor = AutoProcessor.from_pretrained("{base_model}")
omni = Qwen2_5OmniForConditionalGeneration.from_pretrained("{base_model}", dtype=torch.bfloat16, device_map="auto")
omni.disable_talker()  # text answers only: the adapter lives on the thinker
model = PeftModel.from_pretrained(omni.thinker, "{repo_id}").eval()

messages = [{system_turn}{{"role": "user", "content": [
    {{"type": "video", "video": "clip.mp4"}},
    {{"type": "text", "text": "Who is wearing the red shirt? A. Rachel B. Joey C. Monica D. Ross"}},
]}}]
inputs = processor.apply_chat_template(
    messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt",
    load_audio_from_video=True, processor_kwargs={{"fps": {fps}}},  # frames per second, the clip's audio interleaved
).to(model.device)
output = model.generate(**inputs, use_audio_in_video=True, max_new_tokens=512)
print(processor.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0])"""


@dataclass
class AdapterCardInfo:
    """What a card says about one training run."""

    stage: str
    base_model: str
    repo_id: str
    dataset: str = DEFAULT_DATASET
    dataset_config: str = crossomni.DEFAULT_CONFIG_NAME
    recipe: dict[str, Any] = field(default_factory=dict)
    rewards: list[tuple[str, float, str]] = field(default_factory=list)
    results: dict[str, float] | None = None
    results_split: str = "test"
    license: str | None = None
    # What it was trained on (``crossomni_inputs.json``): ``input_preset`` (dict), ``prompt_template`` (dict with
    # ``id``), ``system_prompt``. ``crossomni eval --adapter`` uses the same by default.
    inputs: dict[str, Any] | None = None


def inputs_rows(inputs: dict[str, Any]) -> list[tuple[str, str]]:
    """The card's "trained on" rows from a ``crossomni_inputs.json`` payload.

    >>> preset = {"name": "p", "fps": 2.0, "max_frames": 32, "min_pixels": 3136, "max_pixels": 100352,
    ...           "sampling_rate": 16000, "audio_in_video": True}
    >>> rows = inputs_rows({"input_preset": preset, "prompt_template": {"id": "default.v1"}, "system_prompt": None})
    >>> rows[1], rows[-1]
    (('frames', '2.0 per second, at most 32'), ('system prompt', '(none)'))
    """
    preset = inputs["input_preset"]
    low, high = preset.get("min_pixels"), preset.get("max_pixels")
    audio = "interleaved with the frames" if preset.get("audio_in_video") else "a separate stream"
    return [
        ("input preset", f"`{preset['name']}`"),
        ("frames", f"{preset['fps']} per second, at most {preset['max_frames']}"),
        ("pixels per frame", f"{low or 'processor default'} to {high or 'processor default'}"),
        ("audio", f"{preset['sampling_rate']} Hz mono, {audio}"),
        ("prompt template", f"`{inputs['prompt_template']['id']}`"),
        ("system prompt", repr(inputs["system_prompt"]) if inputs.get("system_prompt") else "(none)"),
    ]


def is_hub_id(name: str) -> bool:
    """``ORG/NAME`` that is not a path on this machine.

    >>> is_hub_id("Qwen/Qwen2.5-Omni-3B"), is_hub_id("/tmp/model"), is_hub_id("runs/sft")
    (True, False, True)
    """
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~")) and not Path(name).exists()


def framework_versions() -> list[tuple[str, str]]:
    versions = []
    for package in VERSIONED_PACKAGES:
        try:
            versions.append((package, importlib.metadata.version(package)))
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def results_rows(results: dict[str, float]) -> list[tuple[str, str]]:
    """The card's results rows, paper order: overall, single, cross, then the nine task types (percent)."""
    rows = []
    for key in ("overall", "single", "cross", *crossomni.TASK_NAMES):
        if key in results and results[key] is not None:
            label = crossomni.TASKS[key].short if key in crossomni.TASKS else key
            rows.append((label, f"{100 * float(results[key]):.2f}"))
    return rows


def card_data(info: AdapterCardInfo):
    """The YAML metadata: base model (Hub id), peft, datasets, tags, licence and a model-index when results exist."""
    from huggingface_hub import EvalResult, ModelCardData

    if not is_hub_id(info.base_model):
        raise ValueError(f"base_model must be a Hub id (ORG/NAME), got the local path {info.base_model!r}")
    license_fields = {"license": info.license} if info.license else BASE_LICENSES.get(info.base_model, {})
    eval_results = None
    if info.results:
        eval_results = [
            EvalResult(
                task_type="multiple-choice",
                task_name="Cross-modal coreference",
                dataset_type=info.dataset,
                dataset_name="CrossOmni",
                dataset_config=info.dataset_config,
                dataset_split=info.results_split,
                metric_type="accuracy",
                metric_name=f"Accuracy ({name})",
                metric_value=round(100 * float(info.results[key]), 2),
            )
            for key, name in (("overall", "overall"), ("single", "single-modality"), ("cross", "cross-modality"))
            if info.results.get(key) is not None
        ]
    return ModelCardData(
        base_model=info.base_model,
        library_name="peft",
        datasets=[info.dataset],
        language=["en"],
        pipeline_tag="any-to-any",
        tags=["crossomni", "qwen2.5-omni", "lora", info.stage, "trl", "peft", "cross-modal-coreference"],
        model_name=info.repo_id.split("/")[-1],
        eval_results=eval_results,
        **license_fields,
    )


def usage_snippet(info: AdapterCardInfo) -> str:
    """The card's Python example, with the system prompt and frame rate the adapter was trained with."""
    inputs = info.inputs or {}
    system = inputs.get("system_prompt")
    system_turn = f'{{"role": "system", "content": {system!r}}},\n    ' if system else ""
    fps = (inputs.get("input_preset") or {}).get("fps", 2.0)
    return USAGE.format(base_model=info.base_model, repo_id=info.repo_id, system_turn=system_turn, fps=fps)


def render_adapter_card(info: AdapterCardInfo):
    """A ``huggingface_hub.ModelCard`` for the run."""
    from huggingface_hub import ModelCard

    if info.stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {info.stage!r}")
    dataset_link = (
        f"https://huggingface.co/datasets/{info.dataset}"
        if is_hub_id(info.dataset)
        else "https://arxiv.org/abs/2604.05522"
    )
    template = resources.files("model_cards.templates").joinpath(TEMPLATE)
    with resources.as_file(template) as template_path:
        return ModelCard.from_template(
            card_data(info),
            template_path=str(template_path),
            model_name=info.repo_id.split("/")[-1],
            repo_id=info.repo_id,
            base_model=info.base_model,
            dataset_link=dataset_link,
            stage_description=STAGES[info.stage],
            usage=usage_snippet(info),
            inputs=inputs_rows(info.inputs) if info.inputs else [],
            recipe=[(name, value) for name, value in info.recipe.items()],
            rewards=info.rewards,
            results=results_rows(info.results) if info.results else [],
            results_split=info.results_split,
            versions=framework_versions(),
            citation=crossomni._CITATION.strip(),
        )


def write_adapter_card(folder: str | Path, info: AdapterCardInfo) -> Path:
    """Render into ``folder/README.md``, replacing any card already there (e.g. one trl wrote)."""
    path = Path(folder) / "README.md"
    render_adapter_card(info).save(path)
    return path
