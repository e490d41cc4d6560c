"""Load the Qwen2.5-Omni *thinker* (no talker) and its processor; LoRA on the language model only."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_LORA_MODULES: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def language_model_lora_pattern(modules: Sequence[str] | None) -> str:
    """A peft ``target_modules`` regex for the language model's projections only.

    The audio and vision towers also have ``q_proj``/``v_proj``-style layers; a bare name list
    would put adapters on them too.

    >>> pattern = language_model_lora_pattern(["q_proj", "v_proj"])
    >>> bool(re.fullmatch(pattern, "model.language_model.layers.3.self_attn.q_proj"))
    True
    >>> bool(re.fullmatch(pattern, "model.audio_tower.layers.0.self_attn.q_proj"))
    False
    """
    names = list(modules or DEFAULT_LORA_MODULES)
    if names == ["all-linear"]:
        names = list(DEFAULT_LORA_MODULES)
    alternatives = "|".join(re.escape(name) for name in names)
    return rf".*language_model\.layers\.\d+\.(?:self_attn|mlp)\.(?:{alternatives})"


def load_thinker(name_or_path: str, dtype: str | None = None, attn_implementation: str | None = None, **kwargs: Any):
    """The thinker of a Qwen2.5-Omni checkpoint: a full Omni repo loses its talker, a thinker folder loads as is."""
    import torch
    from transformers import (
        AutoConfig,
        Qwen2_5OmniForConditionalGeneration,
        Qwen2_5OmniThinkerForConditionalGeneration,
    )

    torch_dtype = getattr(torch, dtype) if dtype not in (None, "auto") else dtype
    config = AutoConfig.from_pretrained(name_or_path)
    load_kwargs = {"dtype": torch_dtype, "attn_implementation": attn_implementation, **kwargs}
    load_kwargs = {k: v for k, v in load_kwargs.items() if v is not None}
    if config.model_type == "qwen2_5_omni":
        full = Qwen2_5OmniForConditionalGeneration.from_pretrained(name_or_path, **load_kwargs)
        full.disable_talker()
        thinker = full.thinker
        thinker.config._name_or_path = name_or_path
        return thinker
    if config.model_type == "qwen2_5_omni_thinker":
        return Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(name_or_path, **load_kwargs)
    raise ValueError(f"{name_or_path}: expected a Qwen2.5-Omni checkpoint, got model_type {config.model_type!r}")


def load_processor(name_or_path: str):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(name_or_path)


def lora_config(model_args: Any):
    """peft ``LoraConfig`` from trl's ``ModelConfig`` (r, alpha, dropout), targeting the language model only."""
    from peft import LoraConfig

    return LoraConfig(
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        target_modules=language_model_lora_pattern(model_args.lora_target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def load_adapter_for_training(model: Any, adapter: str):
    """Continue training an existing adapter (GRPO starts from the SFT adapter): one self-contained adapter results."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter, is_trainable=True)
