"""LoRA SFT of the Qwen2.5-Omni thinker on CrossOmni: supervision is the rationale in a think block, then the letter.

One GPU::

    crossomni train sft --config training/configs/sft_qwen2.5-omni-3b.yaml

Several GPUs (data parallel; keep per_device_train_batch_size × gradient_accumulation_steps ×
GPUs = 32)::

    accelerate launch --config_file training/configs/accelerate/multi_gpu.yaml -m training.sft \\
        --config training/configs/sft_qwen2.5-omni-3b.yaml --gradient_accumulation_steps 4

Ablation "w/o CoT": ``--supervision answer``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def parse(args: Sequence[str] | None = None):
    """``(SFTScriptArguments, SFTConfig, ModelConfig)`` from ``--config`` YAML and command-line overrides."""
    from trl import ModelConfig, SFTConfig, TrlParser

    from training.arguments import SFTScriptArguments, check_recipe_file

    check_recipe_file(args)
    parser = TrlParser((SFTScriptArguments, SFTConfig, ModelConfig))
    return parser.parse_args_and_config(args=args)


def prepare_config(training_args: Any) -> Any:
    """Settings the omni collator needs, whatever the recipe says."""
    training_args.remove_unused_columns = False  # the collator reads the raw columns (media, options, ...)
    training_args.dataset_kwargs = {**(training_args.dataset_kwargs or {}), "skip_prepare_dataset": True}
    training_args.push_to_hub = False  # pushing is ours: adapter + CrossOmni model card (adapter_repo_id)
    return training_args


def main(script_args: Any, training_args: Any, model_args: Any) -> Path:
    """Train, save the adapter and its card to ``output_dir`` (and push when ``adapter_repo_id`` is set)."""
    from trl import SFTTrainer

    from training.collator import OmniSFTCollator
    from training.data import load_split
    from training.modeling import load_processor, load_thinker, lora_config
    from training.publish import finish_run
    from training.run_files import RedactedArgumentsCallback, prepare_output_dir

    hub_token = prepare_output_dir(script_args, training_args, model_args)
    training_args = prepare_config(training_args)
    processor = load_processor(model_args.model_name_or_path)
    model = load_thinker(model_args.model_name_or_path, model_args.dtype, model_args.attn_implementation)
    dataset = load_split(script_args.data_source())
    encoder = script_args.omni_encoder(processor, model_args.model_name_or_path)
    prompt = script_args.training_prompt(model_args.model_name_or_path)
    collator = OmniSFTCollator(
        encoder, supervision=script_args.supervision, max_length=training_args.max_length, prompt=prompt
    )
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=processor,
        peft_config=lora_config(model_args),
        callbacks=[RedactedArgumentsCallback()],
    )
    trainer.train()
    trainer.save_model(training_args.output_dir)
    return finish_run(
        "sft", trainer, script_args, training_args, model_args, train_size=len(dataset), hub_token=hub_token
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main(*parse(sys.argv[1:]))
