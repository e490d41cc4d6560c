"""Stage 9, blind: a text-only model answers each verified instance from the biography and the
question alone (no clip), through the model-call layer — the text role's model by default. Its
letter on the released option order feeds the shortcut audit. With ``blind_filter = K`` it is also
asked under K-1 seeded reorderings of the options, and an instance it answers right under all K
orders is dropped (``blind-answerable``): reading alone solves it, whatever the letter."""

from __future__ import annotations

from typing import Any

from builder.config import BuildConfig
from builder.prompts import parse_reply
from builder.records import Instance
from builder.replies import BlindReply
from builder.stage import Outputs, reject
from builder.stages.caption import reply_failure
from builder.stages.common import make_request, stable_hash
from crossomni import LETTERS
from model_calls.base import ModelRequest, ModelResponse


def option_orders(instance: Instance, count: int, seed: int) -> list[list[str]]:
    """The released order, then ``count - 1`` others: rotations first (the answer moves to each other
    letter), then seeded shuffles."""
    options = list(instance.options)
    orders = [options]
    for k in range(1, count):
        if k < len(options):
            orders.append(options[k:] + options[:k])
        else:
            orders.append(sorted(options, key=lambda o: stable_hash(seed, "blind", instance.id, k, o)))
    return orders


class BlindStage:
    name = "blind"
    unit = "instance"

    def __init__(self, config: BuildConfig) -> None:
        self.role = config.blind_role()
        self.seed = config.seed
        self.filter = config.blind_filter

    def _orders(self, instance: Instance) -> list[list[str]]:
        return option_orders(instance, max(1, self.filter), self.seed)

    def requests(self, item: dict[str, Any]) -> list[ModelRequest]:
        instance = Instance.model_validate(item)
        return [
            make_request(
                self.role,
                "blind",
                BlindReply,
                clip_id=instance.clip_id,
                instance={"id": instance.id, "biography": instance.biography, "question": instance.question},
                biography=instance.biography,
                question=instance.question,
                options=list(zip(LETTERS, order, strict=True)),
            )
            for order in self._orders(instance)
        ]

    def finish(self, item: dict[str, Any], responses: list[ModelResponse]) -> Outputs:
        instance = Instance.model_validate(item)
        failures, right = [], []
        for k, (order, response) in enumerate(zip(self._orders(instance), responses, strict=True)):
            parsed, error = (None, response.error) if response.error else parse_reply(response.text, BlindReply)
            if parsed is None:
                failures.append(reply_failure(instance.id, "blind", f"order {k}", response, error or ""))
                letter = ""
            else:
                letter = parsed.answer  # type: ignore[attr-defined]
            if k == 0:
                instance.blind_answer = letter
            right.append(bool(letter) and order[LETTERS.index(letter)] == instance.answer_text)
        if self.filter and all(right):
            return [], [
                *failures,
                reject(
                    instance.id,
                    "blind-answerable",
                    f"the text-only model answers it under all {len(right)} option orders",
                    task_type=instance.task_type,
                    dropped=True,
                ),
            ]
        return [instance.model_dump()], failures
