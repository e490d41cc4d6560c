"""vLLM backend: offline batched generation with multimodal inputs (optional extra ``crossomni[vllm]``).

The request → engine-input mapping follows vLLM's Qwen2.5-Omni thinker pattern: the prompt comes
from the model's own chat template (media parts become placeholders), the frames and audio go in
``multi_modal_data``, and a video part with ``audio_in_video`` sets ``use_audio_in_video`` in
``mm_processor_kwargs`` so the clip's soundtrack is interleaved with its frames. Reading both
tracks of one video was broken for Qwen-Omni models before vLLM PR #33605 (merged 2026-02-04,
after v0.15.1): the extra therefore requires vllm>=0.16. Media are sampled by
``model_calls.media`` exactly as for the ``transformers`` backend, and the processor flags come
from ``model_calls.omni_inputs``, so both see the same frames and audio for the same request.

``adapter`` (a PEFT LoRA folder or Hub id) starts the engine with ``enable_lora`` and a
``max_lora_rank`` that holds the adapter's ``r``, and sends every prompt with one ``LoRARequest``.
The adapter's tensor names are respelled for vLLM's Qwen2.5-Omni thinker first (see
``model_calls.adapters.vllm_ready_adapter``).
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model_calls.base import ModelRequest, ModelResponse
from model_calls.media import MediaError, Segment, part_audio, part_preset, request_key, sample_segment
from model_calls.omni_inputs import vllm_processor_kwargs
from model_calls.presets import input_preset


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as err:
        raise ImportError(f"the vllm backend needs the optional extra: pip install 'crossomni[vllm]' ({err})") from err
    return vllm


class VLLMBackend:
    """Batched ``LLM.generate`` over many requests at once; tensor parallel via ``tensor_parallel_size``."""

    name = "vllm"
    reads_media = True  # frames and audio are sampled here, in this process (model_calls.prefetch)

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        max_model_len: int = 32768,
        gpu_memory_utilization: float = 0.9,
        max_num_seqs: int | None = None,
        max_new_tokens: int = 256,
        seed: int = 0,
        dtype: str = "auto",
        limit_mm_per_prompt: dict[str, int] | None = None,
        processor: Any = None,
        adapter: str | None = None,
        adapter_cache_dir: str | None = None,
        **engine_kwargs: Any,
    ) -> None:
        from model_calls.adapters import processor_source

        vllm = _import_vllm()
        self.vllm = vllm
        self.model_id = model
        self.adapter = adapter
        self.max_new_tokens = max_new_tokens
        self.seed = seed
        self.calls = 0
        self.base_preset = input_preset("generic")  # what a media part without its own fields gets
        if processor is None:
            from transformers import AutoProcessor

            processor = AutoProcessor.from_pretrained(processor_source(model, adapter))
        self.processor = processor
        options = {
            "model": model,
            "tensor_parallel_size": tensor_parallel_size,
            "max_model_len": max_model_len,
            "gpu_memory_utilization": gpu_memory_utilization,
            "seed": seed,
            "dtype": dtype,
            # one clip (frames + its audio track, or a separate audio) per prompt
            "limit_mm_per_prompt": limit_mm_per_prompt or {"image": 0, "video": 1, "audio": 1},
            **engine_kwargs,
        }
        if max_num_seqs is not None:
            options["max_num_seqs"] = max_num_seqs
        self.lora_request = None
        if adapter:
            self.lora_request = self._lora_request(adapter, adapter_cache_dir, options)
        self.llm = vllm.LLM(**options)

    @staticmethod
    def _lora_request(adapter: str, cache_dir: str | None, options: dict[str, Any]) -> Any:
        """Turn LoRA on in the engine ``options`` (rank from ``adapter_config.json``); the request for every prompt."""
        from model_calls.adapters import read_adapter_config, vllm_max_lora_rank, vllm_ready_adapter

        rank = int(read_adapter_config(adapter)["r"])
        options["enable_lora"] = True
        options.setdefault("max_lora_rank", vllm_max_lora_rank(rank))
        options.setdefault("max_loras", 1)
        folder = vllm_ready_adapter(adapter, cache_dir or Path(tempfile.gettempdir()) / "crossomni-vllm-adapters")
        lora_request_cls = importlib.import_module("vllm.lora.request").LoRARequest
        return lora_request_cls(lora_name=adapter, lora_int_id=1, lora_path=str(folder))

    def build_input(self, request: ModelRequest) -> dict[str, Any]:
        """The engine input of one request: ``prompt``, ``multi_modal_data``, ``mm_processor_kwargs``."""
        template_messages = []
        videos: list[Any] = []
        audios: list[tuple[Any, int]] = []
        processor_kwargs: dict[str, Any] = {}
        for message in request.messages:
            content = message.get("content")
            if isinstance(content, str):
                template_messages.append(message)
                continue
            parts = []
            for part in content:
                kind = part.get("type")
                if kind == "text":
                    parts.append(part)
                    continue
                if kind not in ("video", "audio"):
                    raise MediaError(f"unsupported content part {kind!r}")
                parts.append({"type": kind})
                if kind == "video":
                    preset = part_preset(part, self.base_preset)
                    sampled = sample_segment(part["video"], Segment.of(part), preset)
                    videos.append(sampled.frames.transpose(0, 2, 3, 1))  # vLLM takes (T, H, W, C)
                    processor_kwargs.update(vllm_processor_kwargs(preset, sampled.fps, sampled.audio is not None))
                    if sampled.audio is not None:
                        audios.append((sampled.audio, preset.sampling_rate))
                else:
                    rate = int(part.get("sampling_rate") or self.base_preset.sampling_rate)
                    audios.append((part_audio(part, rate), rate))
            template_messages.append({**message, "content": parts})
        # Qwen3's template reads enable_thinking (the builder's text role turns thinking off)
        template_kwargs = {k: request.sampling[k] for k in ("enable_thinking",) if k in request.sampling}
        prompt = self.processor.apply_chat_template(
            template_messages, tokenize=False, add_generation_prompt=True, **template_kwargs
        )
        engine_input: dict[str, Any] = {"prompt": prompt}
        media: dict[str, Any] = {}
        if videos:
            media["video"] = videos[0] if len(videos) == 1 else videos
        if audios:
            media["audio"] = audios[0] if len(audios) == 1 else audios
        if media:
            engine_input["multi_modal_data"] = media
        if processor_kwargs:
            engine_input["mm_processor_kwargs"] = processor_kwargs
        return engine_input

    def _sampling(self, request: ModelRequest) -> Any:
        sampling = request.sampling
        return self.vllm.SamplingParams(
            temperature=float(sampling.get("temperature", 0.0) or 0.0),
            top_p=float(sampling.get("top_p", 1.0)),
            max_tokens=int(sampling.get("max_tokens", self.max_new_tokens)),
            seed=int(sampling.get("seed", self.seed)),
        )

    def _modalities(self, engine_input: dict[str, Any], prompt_token_ids: Sequence[int] | None) -> dict[str, Any]:
        """Video/audio placeholder counts in the expanded prompt (what the engine really fed the model)."""
        usage: dict[str, Any] = {}
        token_ids = {"video": getattr(self.processor, "video_token_id", None)}
        token_ids["audio"] = getattr(self.processor, "audio_token_id", None)
        sent = engine_input.get("multi_modal_data", {})
        for name, token_id in token_ids.items():
            if prompt_token_ids is not None and token_id is not None:
                usage[f"{name}_tokens"] = sum(1 for t in prompt_token_ids if t == token_id)
            else:
                usage[f"{name}_tokens"] = 1 if name in sent else 0
        usage["modalities"] = ["text"] + [n for n in ("video", "audio") if usage[f"{n}_tokens"] > 0]
        return usage

    def generate(self, requests: Sequence[ModelRequest]) -> list[ModelResponse]:
        """One response per request; a request whose media cannot be read gets an error response."""
        results: list[ModelResponse | None] = [None] * len(requests)
        ready: list[tuple[int, dict[str, Any]]] = []
        for i, request in enumerate(requests):
            try:
                ready.append((i, self.build_input(request)))
            except (MediaError, ValueError) as err:
                results[i] = ModelResponse(key=request_key(request), model=request.model, error=str(err))
        if ready:
            lora = {"lora_request": self.lora_request} if self.lora_request is not None else {}
            outputs = self.llm.generate(
                [engine_input for _, engine_input in ready],
                sampling_params=[self._sampling(requests[i]) for i, _ in ready],
                use_tqdm=False,
                **lora,
            )
            self.calls += 1
            for (i, engine_input), output in zip(ready, outputs, strict=True):
                completion = output.outputs[0]
                usage = {
                    "prompt_tokens": len(output.prompt_token_ids or []),
                    "completion_tokens": len(completion.token_ids),
                    **self._modalities(engine_input, output.prompt_token_ids),
                }
                results[i] = ModelResponse(
                    key=request_key(requests[i]), model=requests[i].model, text=completion.text.strip(), usage=usage
                )
        return [r for r in results if r is not None]
