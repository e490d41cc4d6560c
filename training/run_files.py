"""The run folder of a training run: claimed before training, and kept free of credentials.

``output_dir`` must be new, empty or a folder an earlier ``crossomni train`` wrote
(``model_calls.outputs``), unless ``overwrite_output_dir``; never the base model, the adapter GRPO
starts from, the data or a folder holding them. The trainer pickles its arguments into every
``training_args.bin``: the Hub token is taken out of them before training (the push gets it
directly), and each ``training_args.bin`` is rewritten with every string redacted
(``model_calls.redaction``: a URL's password, a ``?token=``).
"""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from model_calls.outputs import claim_output_dir
from model_calls.redaction import is_secret_key, redact

ARGS_FILE = "training_args.bin"  # what transformers' Trainer pickles its arguments into
SPECIAL_TOKENS = frozenset({"bos_token", "eos_token", "pad_token", "unk_token"})  # "token" fields that are no secret


def prepare_output_dir(script_args: Any, training_args: Any, model_args: Any) -> str | None:
    """Claim ``output_dir`` for this run (on the main process) and take the Hub token out of the arguments;
    returns the token, for the push at the end."""
    if int(os.environ.get("RANK", "0")) == 0:
        claim_output_dir(
            training_args.output_dir,
            "train",
            overwrite=script_args.overwrite_output_dir,
            protected=script_args.inputs_on_disk(model_args.model_name_or_path),
            option="--output_dir",
            flag="--overwrite_output_dir true",
        )
    token, training_args.hub_token = training_args.hub_token, None
    return token


def redacted_arguments(args: Any) -> Any:
    """A shallow copy of training arguments with credential fields (``hub_token``) emptied and every string,
    list and mapping field redacted."""
    clean = copy.copy(args)
    for item in dataclasses.fields(args):
        value = getattr(args, item.name, None)
        if is_secret_key(item.name) and item.name not in SPECIAL_TOKENS:
            cleaned = None
        elif isinstance(value, str | list | tuple | dict):
            cleaned = redact(value)
        else:
            continue
        if cleaned != value:
            object.__setattr__(clean, item.name, cleaned)
    return clean


def save_redacted_arguments(args: Any, folder: str | Path) -> None:
    """Rewrite ``folder/training_args.bin`` (when the trainer wrote one) from the redacted arguments."""
    import torch

    path = Path(folder) / ARGS_FILE
    if path.is_file():
        torch.save(redacted_arguments(args), path)


class RedactedArgumentsCallback(TrainerCallback):
    """After each checkpoint is saved, its ``training_args.bin`` is rewritten redacted."""

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            save_redacted_arguments(args, Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
