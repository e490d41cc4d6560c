"""The SFT collator: CrossOmni rows → Qwen2.5-Omni batches with the clip's frames and audio, loss on the answer only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model_calls.omni_inputs import template_messages
from training.encoding import OmniEncoder, collate_media
from training.prompting import TrainingPrompt, target_text

IGNORE_INDEX = -100
# Qwen chat format: the assistant turn ends with this token; the template's newline after it is not taught.
END_OF_TURN = "<|im_end|>"


def media_source(media: Any, column: str, row_id: str) -> str | bytes:
    """Path or bytes of a ``datasets`` media value (undecoded dict, plain path, or bytes)."""
    if isinstance(media, (str, bytes)):
        return media
    if isinstance(media, dict):
        if media.get("bytes"):
            return media["bytes"]
        if media.get("path"):
            return media["path"]
    raise ValueError(f"instance {row_id}: column {column!r} holds no media path or bytes ({type(media).__name__})")


@dataclass
class OmniSFTCollator:
    """Build ``input_ids``/``attention_mask``/``labels`` plus media for a list of dataset rows.

    The prompt is the system turn and the user turn (clip + biographies + question + options), as
    evaluation sends them; the completion is the assistant turn rendered by the model's own chat
    template, up to and including its end-of-turn token. Labels are ``-100`` on the prompt and on
    padding: the loss sees the completion only.
    """

    encoder: OmniEncoder
    supervision: str = "rationale"
    max_length: int | None = None
    prompt: TrainingPrompt = field(default_factory=TrainingPrompt)

    def completion_ids(self, messages: list[dict[str, Any]], target: str, row_id: str) -> list[int]:
        processor = self.encoder.processor
        prompt = self.encoder.prompt_text(messages)
        answer = {"role": "assistant", "content": target}
        full = processor.apply_chat_template([*template_messages(messages), answer], tokenize=False)
        if not full.startswith(prompt):
            raise ValueError(f"instance {row_id}: the chat template does not extend the prompt with the answer turn")
        turn = full[len(prompt) :]
        if END_OF_TURN in turn:
            turn = turn[: turn.rindex(END_OF_TURN) + len(END_OF_TURN)]
        return processor.tokenizer(turn, add_special_tokens=False)["input_ids"]

    def encode_row(self, row: dict[str, Any]) -> tuple[list[int], list[int], dict[str, Any]]:
        row_id = str(row.get("id", "?"))
        source = media_source(row["video"], "video", row_id)
        messages = self.prompt.messages(row, source, self.encoder.preset)
        encoded = self.encoder.encode(messages, row_id)
        completion = self.completion_ids(messages, target_text(row, self.supervision), row_id)
        if self.max_length is not None:
            room = self.max_length - len(encoded.prompt_ids)
            if room <= 0:
                raise ValueError(
                    f"instance {row_id}: the prompt alone is {len(encoded.prompt_ids)} tokens, over max_length "
                    f"{self.max_length}; pick a smaller input_preset or raise max_length"
                )
            completion = completion[:room]
        return encoded.prompt_ids, completion, encoded.media

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        encoded = [self.encode_row(row) for row in rows]
        pad_id = self.encoder.processor.tokenizer.pad_token_id
        length = max(len(p) + len(c) for p, c, _ in encoded)
        input_ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
        labels = torch.full((len(rows), length), IGNORE_INDEX, dtype=torch.long)
        for i, (prompt, completion, _) in enumerate(encoded):
            ids = prompt + completion
            input_ids[i, : len(ids)] = torch.tensor(ids)
            attention_mask[i, : len(ids)] = 1
            labels[i, len(prompt) : len(ids)] = torch.tensor(completion)
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
        batch.update(collate_media([media for _, _, media in encoded]))
        batch.update(self.encoder.model_kwargs)
        return batch
