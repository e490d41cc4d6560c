"""After training: the adapter folder gets crossomni_inputs.json (what it was trained on), its CrossOmni model card
(over the one trl wrote) and a plot of the training loss, and is pushed to the Hub when asked.

The card's ``base_model`` is the Hub id of what was loaded: ``model_name_or_path`` when it is a Hub id, else
``base_model_id`` once its config (read offline from the HF cache) matches the local checkpoint's; otherwise
the card names no base model, ``adapter_config.json`` keeps the local path, and the log says why.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from huggingface_hub.errors import StrictDataclassError

from model_calls.adapters import read_adapter_config, write_training_inputs
from model_calls.outputs import MARKER
from model_cards.adapter_card import (
    LOSS_PLOT,
    STAGES,
    AdapterCardInfo,
    LossSummary,
    is_hub_id,
    write_adapter_card,
    write_loss_plot,
)
from training.data import is_synthetic
from training.rewards import REWARD_DEFINITIONS, REWARD_NAMES, THINKING_REWARDS
from training.run_files import save_redacted_arguments

logger = logging.getLogger(__name__)

# Files of an adapter folder worth publishing (no optimizer states or checkpoints).
UPLOAD_PATTERNS: list[str] = ["*.json", "*.safetensors", "*.md", "*.jinja", "*.txt", "*.png"]
# Config fields that fix a checkpoint's architecture (top level and each modality's sub-config).
ARCHITECTURE_FIELDS: tuple[str, ...] = (
    "model_type",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "vocab_size",
    "d_model",
    "encoder_layers",
    "encoder_attention_heads",
    "num_mel_bins",
    "depth",
    "embed_dim",
    "num_heads",
    "out_hidden_size",
    "patch_size",
)
SUB_CONFIGS: tuple[str, ...] = ("text_config", "audio_config", "vision_config")


def architecture(config: dict[str, Any]) -> dict[str, Any]:
    """The architecture-defining fields of a (thinker's) config, flattened: ``text_config.hidden_size``...

    A full Qwen2.5-Omni config is read at its thinker (what training loads).

    >>> architecture({"thinker_config": {"model_type": "t", "text_config": {"hidden_size": 8, "rope_theta": 1.0}}})
    {'model_type': 't', 'text_config.hidden_size': 8}
    """
    config = config.get("thinker_config") or config
    fields = {key: config[key] for key in ARCHITECTURE_FIELDS if key in config}
    for scope in SUB_CONFIGS:
        sub = config.get(scope)
        if isinstance(sub, dict):
            fields.update({f"{scope}.{key}": sub[key] for key in ARCHITECTURE_FIELDS if key in sub})
    return fields


def _config_dict(name_or_path: str, **kwargs: Any) -> dict[str, Any]:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(name_or_path, **kwargs).to_dict()


def confirmed_hub_base(model_name_or_path: str, base_model_id: str | None) -> tuple[str | None, str]:
    """The Hub id of the loaded base (or None) and why: a Hub id is itself; a local base needs a matching id."""
    if is_hub_id(model_name_or_path):
        if base_model_id and base_model_id != model_name_or_path:
            return model_name_or_path, f"base_model_id {base_model_id} ignored: the base was loaded from the Hub"
        return model_name_or_path, "loaded from the Hub"
    if not base_model_id:
        return None, f"the base {model_name_or_path} is a local folder and no base_model_id was given"
    if not is_hub_id(base_model_id):
        return None, f"base_model_id {base_model_id!r} is not a Hub id (ORG/NAME)"
    try:
        hub = architecture(_config_dict(base_model_id, local_files_only=True))
    except OSError:
        return None, (
            f"cannot check base_model_id {base_model_id} against the local base {model_name_or_path}: its config "
            f"is not in the local HF cache (fetch it with `hf download {base_model_id} config.json`)"
        )
    except (ValueError, StrictDataclassError) as err:  # a cached config transformers refuses
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        return None, f"cannot check base_model_id {base_model_id}: its cached config is invalid ({first.strip()})"
    local = architecture(_config_dict(model_name_or_path))
    keys = sorted(set(local) | set(hub))
    differences = [f"{key} {local.get(key)} vs {hub.get(key)}" for key in keys if local.get(key) != hub.get(key)]
    if differences:
        shown = ", ".join(differences[:4]) + (f" (+{len(differences) - 4} more)" if len(differences) > 4 else "")
        return None, f"the local base {model_name_or_path} does not match base_model_id {base_model_id}: {shown}"
    return base_model_id, f"the local base's config matches {base_model_id}"


def loss_summary(trainer: Any) -> LossSummary | None:
    """First/last/lowest training loss and the step count, from ``trainer.state.log_history`` (None: nothing logged)."""
    logged = [entry for entry in trainer.state.log_history if "loss" in entry and "step" in entry]
    if not logged:
        return None
    return LossSummary(
        steps=tuple(int(entry["step"]) for entry in logged),
        losses=tuple(float(entry["loss"]) for entry in logged),
        total_steps=int(trainer.state.global_step),
    )


def load_results(path: str | None) -> dict[str, float] | None:
    """Accuracies from a ``crossomni eval`` results JSON (flat, or under ``"metrics"``)."""
    if not path:
        return None
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    metrics = payload.get("metrics", payload) if isinstance(payload, dict) else None
    if not isinstance(metrics, dict) or "overall" not in metrics:
        raise ValueError(f"{path}: no 'overall' accuracy found (expected a crossomni eval results JSON)")
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return {k: float(v) for k, v in numbers.items() if not k.startswith(("count", "ci"))}


def instances_seen(stage: str, training_args: Any, steps: int, train_size: int) -> tuple[int, int]:
    """``(instances the optimizer saw, instances per step)``: steps × per-device batch × accumulation × processes
    (GRPO: prompts, one group of ``num_generations`` rollouts each), at most the epochs' worth of the split.

    >>> from types import SimpleNamespace
    >>> args = SimpleNamespace(per_device_train_batch_size=2, gradient_accumulation_steps=1, world_size=1,
    ...                        num_generations=2, num_train_epochs=1.0, max_steps=3)
    >>> instances_seen("sft", args, 3, 178), instances_seen("grpo", args, 3, 178)
    ((6, 2), (3, 1))
    """
    world = max(1, int(getattr(training_args, "world_size", 1) or 1))
    per_step = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps * world
    if stage == "grpo":
        per_step = max(1, per_step // training_args.num_generations)
    seen = steps * per_step
    if training_args.max_steps <= 0:  # whole epochs: the last step of an epoch may be short
        seen = min(seen, math.ceil(training_args.num_train_epochs * train_size))
    return seen, per_step


def recipe_summary(
    stage: str, script_args: Any, training_args: Any, model_args: Any, train_size: int, steps: int = 0
) -> dict:
    """The run's settings worth a reader's eye, in card order; ``steps``: the optimizer steps it took."""
    world = max(1, int(getattr(training_args, "world_size", 1) or 1))
    per_step = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps * world
    seen, _ = instances_seen(stage, training_args, steps, train_size)
    unit = "prompts" if stage == "grpo" else "instances"
    split = "sampled from the split" if stage == "grpo" else "in the split"
    recipe: dict[str, Any] = {
        "stage": stage.upper(),
        f"training {unit} seen": f"{seen} ({steps} optimizer steps; {train_size} {split})",
    }
    if stage == "sft":
        recipe["supervision"] = "rationale, then answer" if script_args.supervision == "rationale" else "answer only"
        recipe["global batch"] = per_step
    else:
        if script_args.sft_adapter:
            start = script_args.sft_adapter
            recipe["start adapter"] = start if is_hub_id(start) else "a local SFT adapter (path not published)"
        recipe["rollouts per prompt"] = training_args.num_generations
        recipe["prompts per step"] = per_step // training_args.num_generations
        recipe["KL beta"] = training_args.beta
        if uses_judge(script_args):
            recipe["judge"] = f"{script_args.judge_model} ({script_args.judge_backend})"
        recipe["instance sampling"] = f"balanced by {script_args.balance_by}, seed {script_args.sample_seed}"
    length = {"max steps": training_args.max_steps} if training_args.max_steps > 0 else {}
    recipe.update(
        {
            "learning rate": training_args.learning_rate,
            **(length or {"epochs": training_args.num_train_epochs}),
            **lora_rows(stage, script_args, model_args),
            "input preset": script_args.preset(model_args.model_name_or_path).name,
            "dataset config": script_args.dataset_config,
        }
    )
    return recipe


def lora_rows(stage: str, script_args: Any, model_args: Any) -> dict[str, str]:
    """The LoRA that was trained: GRPO from an SFT adapter keeps training that adapter's LoRA, not a new one."""
    if stage == "grpo" and script_args.sft_adapter:
        try:
            config = read_adapter_config(script_args.sft_adapter)
        except (OSError, ValueError) as err:  # it was loaded for training; a card is no reason to fail the run
            logger.warning("card without LoRA rows: cannot read the start adapter's config (%s)", err)
            return {}
        shape = f"{config.get('r')} / {config.get('lora_alpha')} / {config.get('lora_dropout')}"
        return {"LoRA r / alpha / dropout": f"{shape} (the start adapter's)", "LoRA targets": "the start adapter's"}
    return {
        "LoRA r / alpha / dropout": f"{model_args.lora_r} / {model_args.lora_alpha} / {model_args.lora_dropout}",
        "LoRA targets": "language model " + ", ".join(model_args.lora_target_modules or ["all projections"]),
    }


def uses_judge(script_args: Any) -> bool:
    return bool(set(script_args.reward_names()) & set(THINKING_REWARDS))


def stage_description(stage: str, script_args: Any, rewards: list[tuple[str, float, str]]) -> str:
    """What the run did, in the card's first sentence (only the rewards and start that were used)."""
    if stage == "sft":
        return STAGES["sft"] if script_args.reasoning else "LoRA supervised fine-tuning on answer-letter targets"
    names = [name for name, _, _ in rewards] or ["no"]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    start = " on top of a LoRA SFT adapter" if script_args.sft_adapter else " on a new LoRA"
    judged = "; the thinking rewards scored by an LLM judge" if uses_judge(script_args) else ""
    return f"GRPO ({listed} rewards{judged}){start}"


def card_info(
    stage: str,
    trainer: Any,
    script_args: Any,
    training_args: Any,
    model_args: Any,
    train_size: int,
    base_model: str | None = None,
    thinker_only: bool = False,
    synthetic: bool = False,
) -> AdapterCardInfo:
    """What the card says about the run; ``base_model`` is the confirmed Hub id of the base (None: left out),
    ``thinker_only`` whether the checkpoint the card names is a bare thinker, ``synthetic`` whether the data was
    the generated sample."""
    rewards = []
    if stage == "grpo":
        names = script_args.reward_names()
        weights = training_args.reward_weights or [1.0] * len(names)
        rewards = [(n, w, REWARD_DEFINITIONS[n]) for n, w in zip(names, weights, strict=True) if n in REWARD_NAMES]
    dataset = script_args.dataset_name if script_args.dataset_name and is_hub_id(script_args.dataset_name) else None
    loss = loss_summary(trainer)
    recipe = recipe_summary(stage, script_args, training_args, model_args, train_size, trainer.state.global_step)
    signal = getattr(trainer, "signal", None)  # GRPO: batches whose groups all had equal rewards
    if signal is not None and signal.batches:
        recipe["batches with a learning signal"] = (
            f"{signal.batches - signal.flat} of {signal.batches} (the others: equal rewards in every group)"
        )
    return AdapterCardInfo(
        stage=stage,
        base_model=base_model,
        repo_id=script_args.adapter_repo_id or f"ORG/{Path(training_args.output_dir).name}",
        dataset=dataset,
        dataset_config=script_args.dataset_config,
        recipe=recipe,
        rewards=rewards,
        results=load_results(script_args.eval_results),
        inputs=script_args.training_inputs(model_args.model_name_or_path),
        stage_description=stage_description(stage, script_args, rewards),
        reasoning=script_args.reasoning,
        loss=loss,
        loss_plot=LOSS_PLOT if loss else None,
        thinker_only=thinker_only,
        synthetic=synthetic,
    )


def is_thinker_only(name_or_path: str) -> bool:
    """Whether a checkpoint (local, or a Hub id in the local cache) is a bare Qwen2.5-Omni thinker; not readable: no."""
    try:
        return _config_dict(name_or_path, local_files_only=True).get("model_type") == "qwen2_5_omni_thinker"
    except (OSError, ValueError) as err:
        logger.info("cannot read the config of %s (%s): the card's code loads the full Qwen2.5-Omni", name_or_path, err)
        return False


def point_adapter_at_hub(folder: Path, base: str) -> None:
    """Record the base model's Hub id in ``adapter_config.json`` (peft wrote the local path it was loaded from)."""
    path = folder / "adapter_config.json"
    if path.is_file():
        config = json.loads(path.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = base
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def push_adapter(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Create the model repo if needed and upload the adapter folder (weights, config, card); returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(
        repo_id=repo_id,
        repo_type="model",
        folder_path=str(folder),
        allow_patterns=UPLOAD_PATTERNS,
        ignore_patterns=[MARKER],  # the run folder's own bookkeeping (model_calls.outputs)
        commit_message="Upload CrossOmni LoRA adapter and model card",
    )
    return str(getattr(info, "commit_url", info))


def base_record(model_name_or_path: str, hub_id: str | None) -> dict[str, str | None]:
    """``crossomni_inputs.json``'s ``base_model``: where the base was loaded from and its confirmed Hub id."""
    return {"loaded": model_name_or_path, "hub_id": hub_id}


def finish_run(
    stage: str,
    trainer: Any,
    script_args: Any,
    training_args: Any,
    model_args: Any,
    train_size: int,
    hub_token: str | None = None,
):
    """Record the training inputs, write the card and loss plot next to the saved adapter (main process only);
    push when asked (with ``hub_token``, else the arguments', else the environment's login)."""
    folder = Path(training_args.output_dir)
    if not trainer.is_world_process_zero():
        return folder
    save_redacted_arguments(training_args, folder)
    loaded = model_args.model_name_or_path
    hub_id, why = confirmed_hub_base(loaded, script_args.base_model_id)
    record = {**script_args.training_inputs(loaded), "base_model": base_record(loaded, hub_id)}
    write_training_inputs(folder, record)
    if hub_id:
        point_adapter_at_hub(folder, hub_id)
        logger.info("card base_model: %s (%s)", hub_id, why)
    else:
        logger.warning("model card without base_model, adapter_config.json keeps the local path: %s", why)
    info = card_info(
        stage,
        trainer,
        script_args,
        training_args,
        model_args,
        train_size,
        base_model=hub_id,
        thinker_only=is_thinker_only(hub_id or loaded),
        synthetic=is_synthetic(script_args.data_source()),
    )
    if info.loss:
        write_loss_plot(folder, info.loss, title=f"{stage.upper()} {folder.name}")
    else:
        logger.warning("no training loss was logged: the card has no loss summary and no %s", LOSS_PLOT)
    write_adapter_card(folder, info)
    if script_args.adapter_repo_id:
        token = hub_token or getattr(training_args, "hub_token", None)
        url = push_adapter(folder, script_args.adapter_repo_id, token=token)
        logger.info("pushed adapter to %s", url)
    return folder


def saved_summary(folder: str | Path, since: float) -> str:
    """One line on what a run wrote into ``folder`` (files modified since ``since``, a ``time.time()``)."""
    folder = Path(folder)
    written = (
        sorted(
            path.name
            for path in folder.iterdir()
            if path.is_file() and path.name != MARKER and path.stat().st_mtime >= since
        )
        if folder.is_dir()
        else []
    )
    if not written:
        return f"nothing written to {folder}"
    notes = {}
    if "README.md" in written:
        inputs_path = folder / "crossomni_inputs.json"
        record = json.loads(inputs_path.read_text(encoding="utf-8")) if inputs_path.is_file() else {}
        hub_id = (record.get("base_model") or {}).get("hub_id")
        notes["README.md"] = f"model card, base_model {hub_id}" if hub_id else "model card without base_model"
    if LOSS_PLOT in written:
        notes[LOSS_PLOT] = "loss plot"
    listed = [f"{name} ({notes[name]})" if name in notes else name for name in written]
    return f"saved to {folder}: {', '.join(listed)}"
