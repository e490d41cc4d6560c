"""The model card (``README.md``) of a CrossOmni LoRA adapter: ``ModelCardData`` + the shipped Jinja template.

``base_model`` is a Hub id or absent (never a local path: a base no Hub id was confirmed for is left
out), ``datasets`` likewise, ``library_name`` is ``peft``; the recipe, the loss summary (and its plot
beside the card) and, when an eval run is given, the results table are filled from the run; the usage
snippet loads processor + base thinker + adapter and answers one prompt.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import crossomni
from model_calls.sources import is_repo_id
from model_cards import save_card

TEMPLATE = "adapter_card.md.jinja"
LOSS_PLOT = "training_loss.png"
# Stands in for the base model in the card's code when the base has no (confirmed) Hub id.
LOCAL_BASE = "PATH/TO/BASE_MODEL"
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

# The card's Python example: the class of the checkpoint the card names (a full Qwen2.5-Omni repo loses its talker;
# a thinker-only folder, what `crossomni train` loads from a local base, loads as is), the frames the adapter was
# trained on, and one answer. Replace the base, the adapter id and clip.mp4 by yours.
OMNI_CLASS = "Qwen2_5OmniForConditionalGeneration"
THINKER_CLASS = "Qwen2_5OmniThinkerForConditionalGeneration"
USAGE_IMPORTS = """\
import torch
from peft import PeftModel
from transformers import AutoProcessor, {model_class}
"""
LOAD_OMNI = """\
omni = Qwen2_5OmniForConditionalGeneration.from_pretrained("{base_model}", dtype=torch.bfloat16, device_map="auto")
omni.disable_talker()  # text answers only: the adapter lives on the thinker
model = PeftModel.from_pretrained(omni.thinker, "{repo_id}").eval()
"""
LOAD_THINKER = """\
thinker = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(
    "{base_model}", dtype=torch.bfloat16, device_map="auto"
)  # the thinker alone, as it was trained
model = PeftModel.from_pretrained(thinker, "{repo_id}").eval()
"""
USAGE = """\
{imports}
processor = AutoProcessor.from_pretrained("{base_model}")
{load}
messages = [{system_turn}{{"role": "user", "content": [
    {{"type": "video", "video": "clip.mp4"}},  # the question's segment of a clip, with its audio track
    {{"type": "text", "text": "Who is wearing the red shirt? A. Rachel B. Joey C. Monica D. Ross"}},
]}}]
frames = {frames}  # as trained
inputs = processor.apply_chat_template(
    messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt",
    load_audio_from_video=True, processor_kwargs=frames,  # the clip's audio interleaved with its frames
).to(model.device)
output = model.generate(**inputs, use_audio_in_video=True, max_new_tokens=512)
print(processor.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0])"""


@dataclass(frozen=True)
class LossSummary:
    """The training loss as the trainer logged it: one value per logging step."""

    steps: tuple[int, ...]
    losses: tuple[float, ...]
    total_steps: int

    def __post_init__(self) -> None:
        if not self.losses or len(self.steps) != len(self.losses):
            raise ValueError("a loss summary needs one logged step per loss value, and at least one")

    @property
    def first(self) -> float:
        return self.losses[0]

    @property
    def last(self) -> float:
        return self.losses[-1]

    @property
    def min_step(self) -> int:
        return self.steps[self.losses.index(min(self.losses))]

    def rows(self) -> list[tuple[str, str]]:
        """The card's loss rows.

        >>> LossSummary(steps=(1, 2, 3), losses=(2.5, 1.25, 1.5), total_steps=3).rows()[1:3]
        [('last loss', '1.5 (step 3)'), ('lowest loss', '1.25 (step 2)')]
        """
        return [
            ("first loss", f"{self.first:.4g} (step {self.steps[0]})"),
            ("last loss", f"{self.last:.4g} (step {self.steps[-1]})"),
            ("lowest loss", f"{min(self.losses):.4g} (step {self.min_step})"),
            ("optimizer steps", str(self.total_steps)),
            ("logged points", str(len(self.losses))),
        ]


@dataclass
class AdapterCardInfo:
    """What a card says about one training run (None: not known, or not a Hub id, so left out)."""

    stage: str
    base_model: str | None
    repo_id: str
    dataset: str | None = None
    dataset_config: str = crossomni.DEFAULT_CONFIG_NAME
    recipe: dict[str, Any] = field(default_factory=dict)
    rewards: list[tuple[str, float, str]] = field(default_factory=list)
    results: dict[str, float] | None = None
    results_split: str = "test"
    license: str | None = None
    # What it was trained on (``crossomni_inputs.json``): ``input_preset`` (dict), ``prompt_template`` (dict with
    # ``id``), ``system_prompt``. ``crossomni eval --adapter`` uses the same by default.
    inputs: dict[str, Any] | None = None
    stage_description: str | None = None  # default: STAGES[stage]
    reasoning: bool = True  # the adapter answers with a <think> block before the letter
    loss: LossSummary | None = None
    loss_plot: str | None = None  # file name of the loss plot beside the card
    thinker_only: bool = False  # the base the card names is a thinker-only checkpoint (else a full Qwen2.5-Omni)
    synthetic: bool = False  # trained on the generated sample (no TVQA data), not on a TVQA build


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
    return is_repo_id(name)


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


def check_hub_ids(info: AdapterCardInfo) -> None:
    for name, value in (("base_model", info.base_model), ("dataset", info.dataset)):
        if value is not None and not is_hub_id(value):
            raise ValueError(f"{name} must be a Hub id (ORG/NAME) or None, got the local path {value!r}")


def card_data(info: AdapterCardInfo):
    """The YAML metadata: base model and datasets (Hub ids, else left out), peft, tags, licence, model-index."""
    from huggingface_hub import EvalResult, ModelCardData

    check_hub_ids(info)
    license_fields = {"license": info.license} if info.license else BASE_LICENSES.get(info.base_model or "", {})
    eval_results = None
    if info.results and info.dataset:  # a model-index names the Hub dataset it was scored on
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
        datasets=[info.dataset] if info.dataset else None,
        language=["en"],
        pipeline_tag="any-to-any",
        tags=["crossomni", "qwen2.5-omni", "lora", info.stage, "trl", "peft", "cross-modal-coreference"],
        model_name=info.repo_id.split("/")[-1],
        eval_results=eval_results,
        **license_fields,
    )


def frame_settings(preset: dict[str, Any]) -> dict[str, Any]:
    """The processor's video settings for a recorded input preset (fps, frame cap, pixel bounds of a frame).

    >>> frame_settings({"fps": 2.0, "max_frames": 32, "min_pixels": 3136, "max_pixels": 100352})["size"]
    {'shortest_edge': 3136, 'longest_edge': 100352}
    >>> frame_settings({})
    {'fps': 2.0}
    """
    settings: dict[str, Any] = {"fps": preset.get("fps", 2.0)}
    if preset.get("max_frames"):
        settings["max_frames"] = preset["max_frames"]
    low, high = preset.get("min_pixels"), preset.get("max_pixels")
    if low and high:
        settings["size"] = {"shortest_edge": low, "longest_edge": high}
    elif low or high:  # one bound: the processor keeps its own other one
        settings.update({key: value for key, value in (("min_pixels", low), ("max_pixels", high)) if value})
    if low or high:
        settings["cap_pixels_per_frame"] = True  # what the training encoder asks of the processor
    return settings


def python_literal(value: Any) -> str:
    """A dict/list/scalar as Python source with double-quoted strings (``json`` style, ``True`` for true).

    >>> python_literal({"fps": 2.0, "size": {"a": 1}, "cap": True})
    '{"fps": 2.0, "size": {"a": 1}, "cap": True}'
    """
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(key)}: {python_literal(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(python_literal(item) for item in value) + "]"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def usage_snippet(info: AdapterCardInfo) -> str:
    """The card's Python example, with the model class, system prompt and frames the adapter was trained with."""
    inputs = info.inputs or {}
    system = inputs.get("system_prompt")
    system_turn = f'{{"role": "system", "content": {system!r}}},\n    ' if system else ""
    settings = frame_settings(inputs.get("input_preset") or {})
    frames = python_literal(settings)
    base_model = info.base_model or LOCAL_BASE
    model_class = THINKER_CLASS if info.thinker_only else OMNI_CLASS
    load = (LOAD_THINKER if info.thinker_only else LOAD_OMNI).format(base_model=base_model, repo_id=info.repo_id)
    return USAGE.format(
        imports=USAGE_IMPORTS.format(model_class=model_class),
        base_model=base_model,
        load=load,
        system_turn=system_turn,
        frames=frames,
    )


def render_adapter_card(info: AdapterCardInfo):
    """A ``huggingface_hub.ModelCard`` for the run."""
    from huggingface_hub import ModelCard

    if info.stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {info.stage!r}")
    check_hub_ids(info)
    dataset_link = (
        f"https://huggingface.co/datasets/{info.dataset}" if info.dataset else "https://arxiv.org/abs/2604.05522"
    )
    template = resources.files("model_cards.templates").joinpath(TEMPLATE)
    with resources.as_file(template) as template_path:
        return ModelCard.from_template(
            card_data(info),
            template_path=str(template_path),
            model_name=info.repo_id.split("/")[-1],
            repo_id=info.repo_id,
            base_model=info.base_model,
            base_placeholder=LOCAL_BASE,
            dataset_link=dataset_link,
            synthetic=info.synthetic,
            thinker_only=info.thinker_only,
            stage_description=info.stage_description or STAGES[info.stage],
            reasoning=info.reasoning,
            loss=info.loss.rows() if info.loss else [],
            loss_plot=info.loss_plot,
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
    return save_card(render_adapter_card(info), Path(folder) / "README.md")


def loss_axis(losses: Sequence[float]) -> tuple[float, float, str]:
    """The loss plot's y range and how the axis says it: from 0 when every loss is >= 0 (a flat loss then looks
    flat), else the data's own range, stated in the axis label.

    >>> loss_axis([6.42, 6.375])[:2], loss_axis([0.0, 0.0])[:2]
    ((0.0, 7.062), (0.0, 1.0))
    >>> loss_axis([-0.5, 0.25])[2]
    'training loss (axis from -0.5 to 0.25, not from 0)'
    """
    low, high = min(losses), max(losses)
    if low >= 0:
        return 0.0, round(1.1 * high, 4) if high > 0 else 1.0, "training loss"
    return low, high, f"training loss (axis from {low:.4g} to {high:.4g}, not from 0)"


def loss_figure(loss: LossSummary, title: str):
    """The logged training loss against the optimizer step (a matplotlib figure; the y axis from 0 when it can)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=120, layout="constrained")
    axes.plot(loss.steps, loss.losses, marker="o", markersize=3, linewidth=1.5, color="tab:blue")
    axes.scatter([loss.min_step], [min(loss.losses)], color="tab:red", zorder=3, label=f"lowest {min(loss.losses):.4g}")
    low, high, ylabel = loss_axis(loss.losses)
    if low < 0:
        margin = 0.05 * (high - low or 1.0)
        low, high = low - margin, high + margin
    axes.set_ylim(low, high)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("optimizer step")
    axes.set_ylabel(ylabel)
    axes.set_title(f"{title}: {len(loss.losses)} logged points over {loss.total_steps} steps", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower left")
    return figure


def write_loss_plot(folder: str | Path, loss: LossSummary, title: str) -> Path:
    """``loss_figure`` as ``folder/training_loss.png``."""
    import matplotlib.pyplot as plt

    figure = loss_figure(loss, title)
    path = Path(folder) / LOSS_PLOT
    figure.savefig(path)
    plt.close(figure)
    return path
