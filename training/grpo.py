"""GRPO on CrossOmni from the SFT adapter: format, accuracy and two LLM-judge thinking rewards.

One GPU (the judge is an OpenAI-compatible server, e.g. ``vllm serve Qwen/Qwen3-Next-80B-A3B-Instruct``)::

    crossomni train grpo --config training/configs/grpo_qwen2.5-omni-3b.yaml --sft-adapter runs/sft-3b

Several GPUs::

    accelerate launch --config_file training/configs/accelerate/multi_gpu.yaml -m training.grpo \\
        --config training/configs/grpo_qwen2.5-omni-3b.yaml --sft_adapter runs/sft-3b --gradient_accumulation_steps 2

Ablation "w/o T-R": ``--thinking_rewards false``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.rewards import THINKING_REWARDS

logger = logging.getLogger(__name__)
SUM_FIRST = "sum_then_normalize"


def parse(args: Sequence[str] | None = None):
    """``(GRPOScriptArguments, GRPOConfig, ModelConfig)`` from ``--config`` YAML and command-line overrides."""
    from trl import GRPOConfig, ModelConfig, TrlParser

    from training.arguments import GRPOScriptArguments, check_recipe_file

    check_recipe_file(args)
    parser = TrlParser((GRPOScriptArguments, GRPOConfig, ModelConfig))
    return parser.parse_args_and_config(args=args)


def make_judge(script_args: Any):
    """``(backend, model)`` of the judge: any model-call backend, wrapped in the sqlite cache when one is set."""
    from model_calls import CachedBackend, ResponseCache, get_backend

    backend = get_backend(script_args.judge_backend, **script_args.backend_kwargs())
    if script_args.judge_cache:
        backend = CachedBackend(backend, ResponseCache(script_args.judge_cache))
    return backend, script_args.judge_model


def select_weights(script_args: Any, training_args: Any) -> list[float] | None:
    """Reward weights for the rewards in use (the ablation drops the judge rewards and their weights)."""
    weights = training_args.reward_weights
    if weights is None:
        return None
    if len(weights) != len(script_args.rewards):
        raise ValueError(f"reward_weights has {len(weights)} values for {len(script_args.rewards)} rewards")
    kept = set(script_args.reward_names())
    return [w for name, w in zip(script_args.rewards, weights, strict=True) if name in kept]


def placeholder_token_ids(processor: Any) -> list[int]:
    """Media placeholder/boundary tokens: a sampled one would break the media-to-token alignment of the loss forward."""
    tokenizer = processor.tokenizer
    names = ("image_token", "video_token", "audio_token", "vision_bos_token", "vision_eos_token")
    names += ("audio_bos_token", "audio_eos_token")
    tokens = [getattr(processor, name, None) or getattr(tokenizer, name, None) for name in names]
    return sorted({tokenizer.convert_tokens_to_ids(t) for t in tokens if t})


def prepare_config(script_args: Any, training_args: Any, processor: Any) -> Any:
    if training_args.use_vllm:
        raise ValueError("use_vllm is not supported for omni prompts here: trl's vLLM path would drop the clip's media")
    judged = any(name in THINKING_REWARDS for name in script_args.reward_names())
    if judged and (training_args.scale_rewards != "none" or training_args.multi_objective_aggregation != SUM_FIRST):
        logger.warning(
            "scale_rewards=%s, multi_objective_aggregation=%s: a failed judge still shifts the advantages' scale "
            "(the recipe's scale_rewards: none with %s keeps it out exactly; training/README.md)",
            training_args.scale_rewards,
            training_args.multi_objective_aggregation,
            SUM_FIRST,
        )
    training_args.remove_unused_columns = False  # rewards read answer, options, rationale, task_name, question
    training_args.push_to_hub = False  # pushing is ours: adapter + CrossOmni model card (adapter_repo_id)
    training_args.reward_weights = select_weights(script_args, training_args)
    generation = dict(training_args.generation_kwargs or {})
    suppressed = set(generation.get("suppress_tokens") or []) | set(placeholder_token_ids(processor))
    generation["suppress_tokens"] = sorted(suppressed)
    training_args.generation_kwargs = generation
    return training_args


def build_trainer(script_args: Any, training_args: Any, model_args: Any, judge: Any = None):
    """The ``OmniGRPOTrainer`` of a run; ``judge`` (``(backend, model)``) overrides the configured backend."""
    from training.data import balanced_sample, load_split, with_prompts
    from training.grpo_trainer import OmniGRPOTrainer
    from training.modeling import load_adapter_for_training, load_processor, load_thinker, lora_config
    from training.rewards import build_rewards
    from training.run_files import RedactedArgumentsCallback

    if not script_args.sft_adapter:
        logger.warning("no sft_adapter given: GRPO starts a fresh LoRA adapter on the base model")
    processor = load_processor(model_args.model_name_or_path)
    training_args = prepare_config(script_args, training_args, processor)
    judge_factory = (lambda: judge) if judge else (lambda: make_judge(script_args))
    sampling = {"max_tokens": script_args.judge_max_tokens}
    rewards = build_rewards(script_args.reward_names(), judge=judge_factory, judge_sampling=sampling)
    model = load_thinker(model_args.model_name_or_path, model_args.dtype, model_args.attn_implementation)
    peft_config = None
    if script_args.sft_adapter:
        model = load_adapter_for_training(model, script_args.sft_adapter)
    else:
        peft_config = lora_config(model_args)
    dataset = load_split(script_args.data_source())
    dataset = balanced_sample(dataset, script_args.num_train_instances, script_args.sample_seed, script_args.balance_by)
    media_cache = Path(training_args.output_dir) / "media_cache"
    encoder = script_args.omni_encoder(processor, model_args.model_name_or_path)
    prompt = script_args.training_prompt(model_args.model_name_or_path)
    dataset = with_prompts(dataset, media_cache, prompt, encoder.preset)
    trainer = OmniGRPOTrainer(
        model=model,
        reward_funcs=rewards,
        args=training_args,
        train_dataset=dataset,
        processing_class=processor,
        peft_config=peft_config,
        omni_encoder=encoder,
        callbacks=[RedactedArgumentsCallback()],
    )
    return trainer, len(dataset)


def main(script_args: Any, training_args: Any, model_args: Any, judge: Any = None) -> Path:
    """Train, save the adapter and its card to ``output_dir`` (and push when ``adapter_repo_id`` is set)."""
    from training.publish import finish_run
    from training.rewards import JudgeReward
    from training.run_files import prepare_output_dir

    hub_token = prepare_output_dir(script_args, training_args, model_args)
    trainer, size = build_trainer(script_args, training_args, model_args, judge=judge)
    trainer.train()
    for reward in trainer.reward_funcs:
        if isinstance(reward, JudgeReward):
            stats = reward.stats
            logger.info(
                "judge %s: %d requests, %d failed (no reward), %d completions without reasoning",
                reward.__name__,
                stats.requested,
                stats.failed,
                stats.skipped,
            )
    if trainer.signal.flat:
        logger.warning(trainer.signal.summary())
    trainer.save_model(training_args.output_dir)
    return finish_run("grpo", trainer, script_args, training_args, model_args, train_size=size, hub_token=hub_token)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main(*parse(sys.argv[1:]))
