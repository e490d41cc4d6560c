"""After training: the adapter folder gets crossomni_inputs.json (what it was trained on) and its CrossOmni model card,
and is pushed to the Hub when asked."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from model_calls.adapters import write_training_inputs
from model_cards.adapter_card import AdapterCardInfo, is_hub_id, write_adapter_card
from training.rewards import REWARD_NAMES

logger = logging.getLogger(__name__)

REWARD_MEANINGS: dict[str, str] = {
    "format": "a `<think>` block, then one letter A–D and nothing else (0/1)",
    "accuracy": "the chosen letter is the answer (0/1)",
    "consistency": "LLM judge: the reasoning covers the reference rationale (0–5, scaled to 0–1)",
    "coherence": "LLM judge: locate in source, re-identify in target, answer from target (0–3, scaled to 0–1)",
}
# Files of an adapter folder worth publishing (no optimizer states or checkpoints).
UPLOAD_PATTERNS: list[str] = ["*.json", "*.safetensors", "*.md", "*.jinja", "*.txt"]


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


def recipe_summary(stage: str, script_args: Any, training_args: Any, model_args: Any, train_size: int) -> dict:
    """The run's settings worth a reader's eye, in card order."""
    world = max(1, int(getattr(training_args, "world_size", 1) or 1))
    per_step = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps * world
    recipe: dict[str, Any] = {"stage": stage.upper(), "training instances": train_size}
    if stage == "sft":
        recipe["supervision"] = "rationale, then answer" if script_args.supervision == "rationale" else "answer only"
        recipe["global batch"] = per_step
    else:
        recipe["start adapter"] = script_args.sft_adapter
        recipe["rollouts per prompt"] = training_args.num_generations
        recipe["prompts per step"] = per_step // training_args.num_generations
        recipe["KL beta"] = training_args.beta
        recipe["judge"] = f"{script_args.judge_model} ({script_args.judge_backend})"
        recipe["instance sampling"] = f"balanced by {script_args.balance_by}, seed {script_args.sample_seed}"
    length = {"max steps": training_args.max_steps} if training_args.max_steps > 0 else {}
    recipe.update(
        {
            "learning rate": training_args.learning_rate,
            **(length or {"epochs": training_args.num_train_epochs}),
            "LoRA r / alpha / dropout": f"{model_args.lora_r} / {model_args.lora_alpha} / {model_args.lora_dropout}",
            "LoRA targets": "language model " + ", ".join(model_args.lora_target_modules or ["all projections"]),
            "input preset": script_args.preset().name,
            "dataset config": script_args.dataset_config,
        }
    )
    return recipe


def card_info(stage: str, trainer: Any, script_args: Any, training_args: Any, model_args: Any, train_size: int):
    base = script_args.base_model_id or model_args.model_name_or_path
    if not is_hub_id(base):
        raise ValueError(
            f"the card needs the base model's Hub id, but model_name_or_path is the local path {base!r}: "
            "set base_model_id (e.g. Qwen/Qwen2.5-Omni-3B)"
        )
    rewards = []
    if stage == "grpo":
        names = script_args.reward_names()
        weights = training_args.reward_weights or [1.0] * len(names)
        rewards = [(n, w, REWARD_MEANINGS[n]) for n, w in zip(names, weights, strict=True) if n in REWARD_NAMES]
    dataset = script_args.dataset_name or "crossomni"
    dataset = dataset if is_hub_id(dataset) else "crossomni"
    return AdapterCardInfo(
        stage=stage,
        base_model=base,
        repo_id=script_args.adapter_repo_id or f"ORG/{Path(training_args.output_dir).name}",
        dataset=dataset,
        dataset_config=script_args.dataset_config,
        recipe=recipe_summary(stage, script_args, training_args, model_args, train_size),
        rewards=rewards,
        results=load_results(script_args.eval_results),
        inputs=script_args.training_inputs(model_args.model_name_or_path),
    )


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
        commit_message="Upload CrossOmni LoRA adapter and model card",
    )
    return str(getattr(info, "commit_url", info))


def finish_run(stage: str, trainer: Any, script_args: Any, training_args: Any, model_args: Any, train_size: int):
    """Record the training inputs and write the card next to the saved adapter (main process only); push when asked."""
    folder = Path(training_args.output_dir)
    if not trainer.is_world_process_zero():
        return folder
    write_training_inputs(folder, script_args.training_inputs(model_args.model_name_or_path))
    base = script_args.base_model_id or model_args.model_name_or_path
    if is_hub_id(base):
        point_adapter_at_hub(folder, base)
        write_adapter_card(folder, card_info(stage, trainer, script_args, training_args, model_args, train_size))
    elif script_args.adapter_repo_id:
        card_info(stage, trainer, script_args, training_args, model_args, train_size)  # raises with the fix
    else:
        logger.warning("base model %r is a local path: no model card written (set base_model_id)", base)
    if script_args.adapter_repo_id:
        url = push_adapter(folder, script_args.adapter_repo_id, token=getattr(training_args, "hub_token", None))
        logger.info("pushed adapter to %s", url)
    return folder
