"""The SFT collator: CrossOmni rows → Qwen2.5-Omni batches with the clip's frames and audio, loss on the answer only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from training.encoding import OmniEncoder, collate_media
from training.media import media_source
from training.prompting import prompt_messages, target_text

IGNORE_INDEX = -100


@dataclass
class OmniSFTCollator:
    """Build ``input_ids``/``attention_mask``/``labels`` plus media for a list of dataset rows.

    The prompt is the user turn (clip + biographies + question + options); the completion is the
    assistant turn rendered by the model's own chat template (so its end-of-turn token is
    learned). Labels are ``-100`` on the prompt and on padding: the loss sees the completion only.
    """

    encoder: OmniEncoder
    supervision: str = "rationale"
    max_length: int | None = None

    @property
    def reasoning(self) -> bool:
        return self.supervision == "rationale"

    def completion_ids(self, messages: list[dict[str, Any]], target: str, row_id: str) -> list[int]:
        processor = self.encoder.processor
        prompt = self.encoder.prompt_text(messages)
        full = processor.apply_chat_template(
            [*messages, {"role": "assistant", "content": [{"type": "text", "text": target}]}], tokenize=False
        )
        if not full.startswith(prompt):
            raise ValueError(f"instance {row_id}: the chat template does not extend the prompt with the answer turn")
        return processor.tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]

    def encode_row(self, row: dict[str, Any]) -> tuple[list[int], list[int], dict[str, Any]]:
        row_id = str(row.get("id", "?"))
        source = media_source(row["video"], "video", row_id)
        messages = prompt_messages(row, source, reasoning=self.reasoning, audio_in_video=self.encoder.audio_in_video)
        encoded = self.encoder.encode(messages, row_id)
        completion = self.completion_ids(messages, target_text(row, self.supervision), row_id)
        if self.max_length is not None:
            room = self.max_length - len(encoded.prompt_ids)
            if room <= 0:
                raise ValueError(
                    f"instance {row_id}: the prompt alone is {len(encoded.prompt_ids)} tokens, over max_length "
                    f"{self.max_length}; lower video_fps/max_frames or raise max_length"
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
