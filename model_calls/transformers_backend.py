"""Local ``transformers`` backend: omni models (Qwen2.5-Omni thinker) with video+audio, or text-only LMs.

Media parts of a request (see ``ModelRequest``) understood here::

    {"type": "video", "video": path, "start": s, "end": e, "fps": 2.0, "max_frames": 64,
     "min_pixels": ..., "max_pixels": ..., "audio_in_video": True}
    {"type": "audio", "audio": path, "start": s, "end": e}
    {"type": "audio", "audio": path, "spans": [[s, e], ...], "gap": 0.2}   # a speaker's lines, joined

Frames and audio are sampled by ``model_calls.media`` (the part's fields over the ``generic``
preset) and laid out by ``model_calls.omni_inputs`` — the same code the training collators use.
``audio_in_video`` hands the clip's own audio track to the model together with its frames
(Qwen2.5-Omni interleaves them in time) and sets ``use_audio_in_video`` for ``generate``; without
it only the frames are used. Batches are left-padded whatever the processor's default. Each response's
``usage`` records how many video and audio tokens reached the model (``modalities``), so a run
can prove the media were really seen.

``adapter`` (a PEFT adapter folder or Hub id, e.g. a ``crossomni train`` output) is loaded on the
base model with ``PeftModel.from_pretrained``; ``merge_adapter=True`` folds it into the weights.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from model_calls.base import ModelRequest, ModelResponse
from model_calls.media import MediaError, request_key
from model_calls.omni_inputs import (
    MEDIA_TYPES,
    RowMedia,
    model_kwargs,
    processor_inputs,
    sample_messages,
    template_messages,
)
from model_calls.presets import InputPreset, input_preset

OMNI_THINKER_TYPES = {"qwen2_5_omni_thinker": "Qwen2_5OmniThinkerForConditionalGeneration"}
OMNI_FULL_TYPES = {"qwen2_5_omni": "Qwen2_5OmniForConditionalGeneration"}


@dataclass
class _Prepared:
    """One request turned into processor inputs (rows of one batch share ``preset``, ``fps`` and audio-in-video)."""

    text: str
    media: RowMedia
    preset: InputPreset
    fps: float | None

    @property
    def signature(self) -> tuple:
        return (self.preset, self.fps, self.media.audio_in_video)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


class TransformersBackend:
    """Batched greedy (by default) ``generate`` with a local model and its own processor/tokenizer."""

    name = "transformers"
    reads_media = True  # frames and audio are sampled here, in this process (model_calls.prefetch)

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        dtype: str = "auto",
        batch_size: int = 4,
        max_new_tokens: int = 256,
        seed: int = 0,
        attn_implementation: str | None = None,
        adapter: str | None = None,
        merge_adapter: bool = False,
    ) -> None:
        import torch
        from transformers import AutoConfig

        from model_calls.adapters import processor_source

        self.model_id = model
        self.adapter = adapter
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = max_new_tokens
        self.seed = seed
        self.calls = 0
        self.base_preset = input_preset("generic")  # what a media part without its own fields gets
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        config = AutoConfig.from_pretrained(model)
        self.model_type = config.model_type
        load_kwargs: dict[str, Any] = {"dtype": dtype}
        if attn_implementation:
            load_kwargs["attn_implementation"] = attn_implementation
        self.is_omni = self.model_type in OMNI_THINKER_TYPES or self.model_type in OMNI_FULL_TYPES
        if self.is_omni:
            import transformers
            from transformers import AutoProcessor

            self.processor = AutoProcessor.from_pretrained(processor_source(model, adapter))
            self.tokenizer = self.processor.tokenizer
            if self.model_type in OMNI_FULL_TYPES:
                # thinker only: the talker (speech output) is never used for multiple choice
                full_cls = getattr(transformers, OMNI_FULL_TYPES[self.model_type])
                full = full_cls.from_pretrained(model, enable_audio_output=False, **load_kwargs)
                self.model = full.thinker
            else:
                self.model = getattr(transformers, OMNI_THINKER_TYPES[self.model_type]).from_pretrained(
                    model, **load_kwargs
                )
        else:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            self.processor = None
            self.tokenizer = AutoTokenizer.from_pretrained(processor_source(model, adapter), padding_side="left")
            self.model = AutoModelForCausalLM.from_pretrained(model, **load_kwargs)
        if adapter:
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, adapter)
            if merge_adapter:
                self.model = self.model.merge_and_unload()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.to(self.device).eval()

    # -- request → model inputs -------------------------------------------------------------

    def _chat_text(self, messages: Sequence[dict[str, Any]]) -> str:
        template_owner = self.processor if self.processor is not None else self.tokenizer
        if getattr(template_owner, "chat_template", None):
            plain = template_messages(messages)
            if self.processor is None:
                plain = [{**m, "content": _text_of(m["content"])} for m in plain]
            return template_owner.apply_chat_template(plain, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(_text_of(m["content"]) for m in messages) + "\n"

    def _prepare(self, request: ModelRequest) -> _Prepared:
        if not self.is_omni:
            for message in request.messages:
                content = message.get("content")
                kinds = [] if isinstance(content, str) else [p.get("type") for p in content]
                kind = next((k for k in kinds if k in MEDIA_TYPES), None)
                if kind:
                    raise MediaError(f"model {self.model_id} ({self.model_type}) is text-only; request has {kind}")
        media, preset, fps = sample_messages(request.messages, self.base_preset)
        return _Prepared(text=self._chat_text(request.messages), media=media, preset=preset, fps=fps)

    def _encode(self, prepared: Sequence[_Prepared]) -> Any:
        texts = [p.text for p in prepared]
        if self.processor is None:
            return self.tokenizer(texts, return_tensors="pt", padding=True, padding_side="left")
        return processor_inputs(self.processor, texts, [p.media for p in prepared], prepared[0].preset, prepared[0].fps)

    # -- generation -------------------------------------------------------------------------

    def _generate_batch(self, requests: Sequence[ModelRequest], prepared: Sequence[_Prepared]) -> list[ModelResponse]:
        import torch

        inputs = self._encode(prepared).to(self.device)
        sampling = requests[0].sampling
        temperature = float(sampling.get("temperature", 0.0) or 0.0)
        generate_kwargs: dict[str, Any] = {
            "max_new_tokens": int(sampling.get("max_tokens", self.max_new_tokens)),
            "do_sample": temperature > 0,
            "pad_token_id": self.tokenizer.pad_token_id,
            **model_kwargs(prepared[0].media.audio_in_video),
        }
        if temperature > 0:
            generate_kwargs["temperature"] = temperature
            generate_kwargs["top_p"] = float(sampling.get("top_p", 1.0))
        torch.manual_seed(int(sampling.get("seed", self.seed)))
        started = time.perf_counter()
        with torch.inference_mode():
            output = self.model.generate(**inputs, **generate_kwargs)
        self.calls += 1
        seconds = time.perf_counter() - started
        prompt_length = inputs["input_ids"].shape[1]
        completions = output[:, prompt_length:]
        texts = self.tokenizer.batch_decode(completions, skip_special_tokens=True)
        responses = []
        for row, (request, text) in enumerate(zip(requests, texts, strict=True)):
            ids = inputs["input_ids"][row]
            usage: dict[str, Any] = {
                "prompt_tokens": int(inputs["attention_mask"][row].sum()),
                "completion_tokens": int((completions[row] != self.tokenizer.pad_token_id).sum()),
                "batch_seconds": seconds,
                "batch_size": len(requests),
            }
            if self.processor is not None:
                usage["video_tokens"] = int((ids == self.processor.video_token_id).sum())
                usage["audio_tokens"] = int((ids == self.processor.audio_token_id).sum())
            usage["modalities"] = ["text"] + [name for name in ("video", "audio") if usage.get(f"{name}_tokens", 0) > 0]
            responses.append(ModelResponse(key=request.key(), model=request.model, text=text.strip(), usage=usage))
        return responses

    def generate(self, requests: Sequence[ModelRequest]) -> list[ModelResponse]:
        """One response per request; a request whose media or generation fails gets an error response."""
        results: list[ModelResponse | None] = [None] * len(requests)
        ready: list[tuple[int, _Prepared]] = []
        for i, request in enumerate(requests):
            try:
                ready.append((i, self._prepare(request)))
            except (MediaError, FileNotFoundError, ValueError) as err:
                results[i] = ModelResponse(key=request_key(request), model=request.model, error=str(err))
        # one batch per (sampling, preset, fps, audio-in-video) so every row of a batch is processed alike
        groups: dict[tuple, list[tuple[int, _Prepared]]] = {}
        for i, prepared in ready:
            signature = (repr(sorted(requests[i].sampling.items())), prepared.signature)
            groups.setdefault(signature, []).append((i, prepared))
        for members in groups.values():
            for start in range(0, len(members), self.batch_size):
                chunk = members[start : start + self.batch_size]
                self._run_chunk(requests, chunk, results)
        return [r for r in results if r is not None]

    def _run_chunk(self, requests: Sequence[ModelRequest], chunk: list[tuple[int, _Prepared]], results: list) -> None:
        batch = [requests[i] for i, _ in chunk]
        try:
            for (i, _), response in zip(chunk, self._generate_batch(batch, [p for _, p in chunk]), strict=True):
                results[i] = response
        except Exception as err:
            if len(chunk) == 1:
                i = chunk[0][0]
                results[i] = ModelResponse(
                    key=request_key(requests[i]), model=requests[i].model, error=f"{type(err).__name__}: {err}"
                )
                return
            for member in chunk:  # find the culprit: retry one by one
                self._run_chunk(requests, [member], results)
