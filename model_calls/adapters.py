"""PEFT (LoRA) adapters on top of a base model: where they are, what they are, and how each backend takes them.

An adapter is a local folder (``adapter_config.json`` + ``adapter_model.safetensors``, as ``crossomni train``
saves it) or a Hub id (``ORG/NAME``, fetched through the Hub cache). ``adapter_fingerprint`` (sha256 of the
weights) goes into the run identity and the request cache key, so a re-trained adapter at the same path is
a different model, not a cache hit. ``crossomni_inputs.json`` beside the weights records the inputs the
adapter was trained on; evaluation uses them by default.
"""

from __future__ import annotations

import json
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

from model_calls.base import file_digest

CONFIG_FILE = "adapter_config.json"
# What the adapter was trained on (input preset, prompt template, system prompt), written by ``crossomni train``.
TRAINING_INPUTS_FILE = "crossomni_inputs.json"
TRAINING_INPUTS_FORMAT = "crossomni-training-inputs/1"
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")
# Files whose presence means the adapter folder carries its own processor (trl saves it next to the adapter).
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")
# vLLM's LoRAConfig.max_lora_rank accepts only these values.
VLLM_MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
# peft names the thinker's language model ``model.language_model.layers.N...`` (transformers 5); vLLM's
# Qwen2.5-Omni thinker maps only the original checkpoint's ``thinker.model.`` prefix onto its
# ``language_model.model.`` modules, so the adapter's keys are renamed to that spelling for vLLM.
VLLM_KEY_PREFIXES = {
    "base_model.model.model.language_model.": "base_model.model.thinker.model.",
    "base_model.model.thinker.model.language_model.": "base_model.model.thinker.model.",
}


@lru_cache(maxsize=16)
def resolve_adapter(adapter: str) -> Path:
    """The local folder of ``adapter``: the folder itself, or the Hub snapshot of an ``ORG/NAME`` id (resolved once)."""
    path = Path(adapter).expanduser()
    if path.is_dir():
        return path
    if adapter.startswith((".", "/", "~")) or adapter.count("/") != 1:
        raise FileNotFoundError(f"adapter folder {adapter} not found (and it is not an ORG/NAME Hub id)")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(adapter, allow_patterns=["*.json", "*.safetensors", "*.bin", "*.jinja", "*.txt"]))


def read_adapter_config(adapter: str) -> dict[str, Any]:
    """``adapter_config.json`` of ``adapter`` (an error that names the folder when it is not a PEFT adapter)."""
    path = resolve_adapter(adapter) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{adapter}: no {CONFIG_FILE} (expected a PEFT adapter folder or Hub id)")
    return json.loads(path.read_text(encoding="utf-8"))


def training_inputs_record(input_preset: dict[str, Any], prompt_id: str, system_prompt: str | None) -> dict[str, Any]:
    """The ``crossomni_inputs.json`` payload: preset values, template id (``default.v2``), system prompt."""
    name, _, version = prompt_id.rpartition(".")
    if not name or not version:
        raise ValueError(f"prompt template id {prompt_id!r} is not NAME.VERSION")
    return {
        "format": TRAINING_INPUTS_FORMAT,
        "input_preset": dict(input_preset),
        "prompt_template": {"id": prompt_id, "name": name, "version": version},
        "system_prompt": system_prompt,
    }


def write_training_inputs(folder: str | Path, record: dict[str, Any]) -> Path:
    path = Path(folder) / TRAINING_INPUTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_training_inputs(adapter: str) -> dict[str, Any] | None:
    """What ``adapter`` was trained on (``crossomni_inputs.json``), or None when it does not say."""
    path = resolve_adapter(adapter) / TRAINING_INPUTS_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
    missing = [key for key in ("input_preset", "prompt_template", "system_prompt") if key not in record]
    if record.get("format") != TRAINING_INPUTS_FORMAT or missing:
        raise ValueError(f"{path}: not a {TRAINING_INPUTS_FORMAT} record (missing {', '.join(missing) or 'format'})")
    return record


def adapter_weights(adapter: str) -> Path:
    folder = resolve_adapter(adapter)
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{adapter}: no {' or '.join(WEIGHT_FILES)}")


def adapter_fingerprint(adapter: str) -> str:
    """sha256 of the adapter's weights file."""
    return file_digest(adapter_weights(adapter))


def adapter_summary(adapter: str) -> dict[str, Any]:
    """What ``run.json`` records about an adapter: id, weights digest and the LoRA settings of its config."""
    config = read_adapter_config(adapter)
    keys = ("peft_type", "r", "lora_alpha", "target_modules", "base_model_name_or_path")
    return {"id": adapter, "sha256": adapter_fingerprint(adapter), **{k: config.get(k) for k in keys}}


def model_label(model: str, adapter: str | None) -> str:
    """The ``ModelRequest.model`` of base + adapter (base alone: ``model``), part of every request's cache key."""
    if not adapter:
        return model
    return f"{model}+{adapter}@{adapter_fingerprint(adapter)[:16]}"


def processor_source(model: str, adapter: str | None) -> str:
    """Where to load the processor from: a local adapter folder that saved one, else the base model."""
    if adapter and Path(adapter).is_dir() and any((Path(adapter) / name).is_file() for name in PROCESSOR_FILES):
        return adapter
    return model


def vllm_max_lora_rank(r: int) -> int:
    """The smallest ``max_lora_rank`` vLLM accepts that holds rank ``r``."""
    for rank in VLLM_MAX_LORA_RANKS:
        if rank >= r:
            return rank
    raise ValueError(f"LoRA rank {r} exceeds vLLM's largest max_lora_rank {VLLM_MAX_LORA_RANKS[-1]}")


def vllm_lora_key(name: str) -> str:
    """A peft tensor name in the spelling vLLM's Qwen2.5-Omni thinker maps onto its language model.

    >>> vllm_lora_key("base_model.model.model.language_model.layers.0.self_attn.q_proj.lora_A.weight")
    'base_model.model.thinker.model.layers.0.self_attn.q_proj.lora_A.weight'
    >>> vllm_lora_key("base_model.model.model.layers.0.mlp.up_proj.lora_B.weight")
    'base_model.model.model.layers.0.mlp.up_proj.lora_B.weight'
    """
    for old, new in VLLM_KEY_PREFIXES.items():
        if name.startswith(old):
            return new + name[len(old) :]
    return name


def vllm_ready_adapter(adapter: str, cache_dir: str | Path) -> Path:
    """A folder vLLM can load ``adapter`` from: the adapter itself, or a key-renamed copy under ``cache_dir``.

    The copy is keyed by the weights' digest, so it is written once per adapter version.
    """
    from safetensors.torch import load_file, save_file

    weights = adapter_weights(adapter)
    if weights.suffix != ".safetensors":
        return weights.parent
    tensors = load_file(str(weights))
    renamed = {vllm_lora_key(name): tensor for name, tensor in tensors.items()}
    if list(renamed) == list(tensors):
        return weights.parent
    target = Path(cache_dir) / adapter_fingerprint(adapter)[:16]
    if not (target / WEIGHT_FILES[0]).is_file():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(weights.parent / CONFIG_FILE, target / CONFIG_FILE)
        save_file(renamed, str(target / (WEIGHT_FILES[0] + ".tmp")), metadata={"format": "pt"})
        (target / (WEIGHT_FILES[0] + ".tmp")).replace(target / WEIGHT_FILES[0])
    return target
