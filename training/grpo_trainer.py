"""``GRPOTrainer`` that carries each prompt's clip frames and audio into generation *and* every log-prob forward.

Stock trl 1.16 forwards only image inputs when it recomputes log-probs, so an omni prompt's
audio features and video pixels would silently vanish from the old-policy, reference and loss
forwards. Three small overrides fix that without copying trl's methods:

- ``_tokenize_prompts``: each prompt is encoded on its own (``OmniEncoder``), its media kept as
  one row; the rows, concatenated, go to ``generate``;
- ``_generate_and_score_completions``: the rows travel in the output as the list
  ``omni_media``; trl's shuffle and split index lists row by row, so pairing survives;
- ``_get_per_token_logps_and_entropies``: per chunk, the chunk's rows are collated and handed
  to the model call through a temporary forward pre-hook (``_compute_loss`` and trl's own
  old/ref calls set which rows are in flight).

A fourth keeps a failed judge out of the advantage: ``_calculate_rewards`` returns trl's gathered
reward table with each failed judge score replaced by its group's mean (``rewards.fill_failed_judges``);
trl would otherwise ``nansum`` it as a 0. A batch whose every group got equal rewards (all advantages 0:
loss 0, gradient 0) is warned about as it happens (``RewardSignal``), and counted in the run's last lines.

These are private trl methods: ``tests/test_training_grpo.py`` pins their signatures and checks
the pairing and the advantages, so a trl upgrade that changes them fails loudly.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trl.trainer.grpo_trainer as trl_grpo
from trl import GRPOTrainer

from training.encoding import OmniEncoder, collate_media
from training.rewards import fill_failed_judges

logger = logging.getLogger(__name__)
MEDIA_COLUMN = "omni_media"


def omni_module(model: Any) -> Any:
    """The innermost module whose ``forward`` takes the media (under DDP/DeepSpeed/peft wrappers)."""
    for module in model.modules():
        if "input_features" in inspect.signature(module.forward).parameters:
            return module
    raise TypeError(f"{type(model).__name__} has no module that accepts audio features (not an omni model?)")


@contextlib.contextmanager
def extra_forward_kwargs(model: Any, extra: dict[str, Any]) -> Iterator[None]:
    """Add ``extra`` keyword arguments to every forward of ``model``'s omni module while the block runs."""
    if not extra:
        yield
        return

    def hook(module: Any, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        return args, {**kwargs, **extra}

    handle = omni_module(model).register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


COMPLETIONS_LOG = "completions.log"


@contextlib.contextmanager
def completion_tables_to(path: Path) -> Iterator[None]:
    """Send trl's sample-completion tables (``log_completions``) to ``path`` instead of stdout.

    trl prints a rich table of prompts, completions and rewards at every logging step; on a real run
    that is hundreds of narrow lines between the loss lines. The same rows also go to trl's own
    ``completions/*.parquet``.
    """
    original = trl_grpo.print_prompt_completions_sample

    def to_file(*args: Any, **kwargs: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle, contextlib.redirect_stdout(handle):
            original(*args, **kwargs)

    trl_grpo.print_prompt_completions_sample = to_file
    try:
        yield
    finally:
        trl_grpo.print_prompt_completions_sample = original


@dataclass
class RewardSignal:
    """Counts generation batches whose every group got equal rewards: all advantages 0, nothing to learn from."""

    batches: int = 0
    flat: int = 0

    def note(self, advantages: Any, step: int, warn: bool = True) -> None:
        self.batches += 1
        if bool((advantages == 0).all()):
            self.flat += 1
            if warn:
                logger.warning(
                    "step %d: every group's rollouts got the same reward (zero variance: advantages 0, loss 0, "
                    "no learning signal; %d of %d batches so far). A model that never earns a reward (random "
                    "weights, a wrong answer form) or too few rollouts per group gives this.",
                    step,
                    self.flat,
                    self.batches,
                )

    def summary(self) -> str:
        return f"{self.flat} of {self.batches} generation batches had no reward variance in any group (no signal)"


class OmniGRPOTrainer(GRPOTrainer):
    """GRPO for Qwen2.5-Omni prompts whose user turn holds a clip segment (see the module docstring)."""

    def __init__(self, *args: Any, omni_encoder: OmniEncoder, **kwargs: Any) -> None:
        self.omni_encoder = omni_encoder
        self._media_in_flight: list[dict[str, Any]] | None = None
        self.signal = RewardSignal()
        super().__init__(*args, **kwargs)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        with completion_tables_to(Path(self.args.output_dir) / COMPLETIONS_LOG):
            super().log(logs, start_time)

    def _tokenize_prompts(self, prompts: list):
        rows = [self.omni_encoder.encode(prompt, row_id=f"prompt {i}") for i, prompt in enumerate(prompts)]
        media = [row.media for row in rows]
        # trl's old/ref log-prob calls inside _generate_and_score_completions read these rows.
        self._media_in_flight = media
        fields = collate_media(media)
        fields.update(self.omni_encoder.model_kwargs)
        return [row.prompt_ids for row in rows], None, fields

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        try:
            output = super()._generate_and_score_completions(inputs)
            media = self._media_in_flight
        finally:
            self._media_in_flight = None
        if media is None or len(media) != output["prompt_ids"].size(0):
            raise RuntimeError("omni media rows were not produced for every prompt (trl internals changed?)")
        output[MEDIA_COLUMN] = media
        if self.model.training:
            self.signal.note(output["advantages"], self.state.global_step + 1, self.accelerator.is_main_process)
        return output

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.multi_objective_aggregation != "sum_then_normalize":
            return rewards_per_func  # normalize_then_sum already leaves NaN out of each reward's group statistics
        judges = [i for i, func in enumerate(self.reward_funcs) if getattr(func, "fills_failures_in_group", False)]
        generations = self.num_generations if self.model.training else self.num_generations_eval
        return fill_failed_judges(rewards_per_func, generations, judges)

    def _compute_loss(self, model: Any, inputs: dict[str, Any]):
        self._media_in_flight = inputs[MEDIA_COLUMN]
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._media_in_flight = None

    def _get_per_token_logps_and_entropies(
        self,
        model: Any,
        input_ids: Any,
        attention_mask: Any,
        logits_to_keep: int,
        batch_size: int | None = None,
        **kwargs: Any,
    ):
        import torch

        media = self._media_in_flight
        if media is None:
            raise RuntimeError("log-probs requested without the prompts' media in flight: they would be text-only")
        if len(media) != input_ids.size(0):
            raise RuntimeError(f"{len(media)} media rows for {input_ids.size(0)} sequences: pairing is lost")
        batch_size = batch_size or input_ids.size(0)
        logps, entropies, aux = [], [], []
        for start in range(0, input_ids.size(0), batch_size):
            end = min(start + batch_size, input_ids.size(0))
            extra = {
                key: value.to(input_ids.device) if isinstance(value, torch.Tensor) else value
                for key, value in collate_media(media[start:end]).items()
            }
            extra.update(self.omni_encoder.model_kwargs)
            with extra_forward_kwargs(model, extra):
                chunk = super()._get_per_token_logps_and_entropies(
                    model,
                    input_ids[start:end],
                    attention_mask[start:end],
                    logits_to_keep,
                    batch_size=end - start,
                    **kwargs,
                )
            logps.append(chunk[0])
            entropies.append(chunk[1])
            aux.append(chunk[2])
        entropy = torch.cat(entropies) if entropies[0] is not None else None
        aux_loss = torch.stack(aux).mean() if aux[0] is not None else None
        return torch.cat(logps), entropy, aux_loss
