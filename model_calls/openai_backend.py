"""The ``openai`` backend: any OpenAI-compatible chat server (vLLM serve, SGLang, TGI, OpenAI).

Requests of a batch run concurrently (``concurrency`` at a time) on ``openai.AsyncOpenAI``;
transient failures (connection, timeout, 429, 5xx) are retried with exponential backoff, then
come back as error responses; 4xx errors are not retried. Media travel as content parts the
way vLLM's server reads them: images as ``image_url``, audio as ``input_audio`` (wav, cut to
the part's start/end), video as ``video_url`` — base64 data URLs by default, or ``file://``
URLs with ``media="file"`` (vLLM needs ``--allowed-local-media-path``). A video part with a segment
or sampling fields (every evaluation request) is first cut to exactly the frames and audio the
shared sampler (``model_calls.media``) picks, muxed at their rate, and the matching
``mm_processor_kwargs`` go in ``extra_body`` so the server neither resamples nor drops the audio.
"""

from __future__ import annotations

import asyncio
import base64
import io
import mimetypes
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model_calls.base import ModelRequest, ModelResponse
from model_calls.media import SAMPLING_RATE, Segment, encode_mp4, part_audio, part_preset, sample_segment
from model_calls.omni_inputs import vllm_processor_kwargs
from model_calls.presets import input_preset

# Keys of a video part that ask for our sampling (evaluation always sets them); a bare part goes as is.
_SAMPLED_VIDEO_KEYS = ("start", "end", "fps", "max_frames", "min_pixels", "max_pixels", "audio_in_video")

# Sampling keys sent as standard parameters; enable_thinking goes to the chat template (Qwen3).
_SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "seed", "stop", "presence_penalty", "frequency_penalty")


def _data_url(path: str, default_mime: str) -> str:
    mime = mimetypes.guess_type(path)[0] or default_mime
    return f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


def _audio_part(part: dict[str, Any]) -> dict[str, Any]:
    path = str(part["audio"])
    whole = all(part.get(key) is None for key in ("start", "end", "spans"))
    if path.lower().endswith((".wav", ".mp3")) and whole:
        data, fmt = Path(path).read_bytes(), path.lower().rsplit(".", 1)[1]
    else:  # other containers, a time window or a speaker's spans: decode and send those samples as wav
        import soundfile as sf

        buffer = io.BytesIO()
        rate = int(part.get("sampling_rate") or SAMPLING_RATE)
        sf.write(buffer, part_audio(part, rate), rate, format="WAV", subtype="PCM_16")
        data, fmt = buffer.getvalue(), "wav"
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode("ascii"), "format": fmt}}


def _sampled_video(part: dict[str, Any], folder: Path) -> tuple[Path, dict[str, Any]]:
    """The part's segment as the shared sampler sees it (frames at the sampled rate, its audio when asked),
    written once as an mp4 under ``folder``; and the ``mm_processor_kwargs`` that make the server read it alike."""
    import hashlib
    import json

    preset = part_preset(part, input_preset("generic"))
    sampled = sample_segment(part["video"], Segment.of(part), preset)
    stat = Path(part["video"]).stat()
    identity = json.dumps([str(part["video"]), stat.st_size, stat.st_mtime_ns, sampled.times, preset.to_json()])
    out = folder / f"{hashlib.sha256(identity.encode()).hexdigest()[:24]}.mp4"
    if not out.is_file():
        encode_mp4(out, list(sampled.frames.transpose(0, 2, 3, 1)), sampled.fps, sampled.audio)
    return out, vllm_processor_kwargs(preset, sampled.fps, sampled.audio is not None)


def _video_part(part: dict[str, Any], media: str, folder: Path, processor_kwargs: dict[str, Any]) -> dict[str, Any]:
    path = Path(part["video"])
    if any(part.get(key) is not None for key in _SAMPLED_VIDEO_KEYS):
        path, kwargs = _sampled_video(part, folder)
        processor_kwargs.update(kwargs)
    url = path.resolve().as_uri() if media == "file" else _data_url(str(path), "video/mp4")
    return {"type": "video_url", "video_url": {"url": url}}


def to_openai_content(
    content: Any, media: str = "data", processor_kwargs: dict[str, Any] | None = None, media_dir: Path | None = None
) -> Any:
    """Convert a ``ModelRequest`` message content to OpenAI chat content parts.

    A video part with a segment or sampling fields is cut to the frames (and audio) ``model_calls.media``
    samples for it; the server-side processor settings it needs are added to ``processor_kwargs``.
    """
    if isinstance(content, str):
        return content
    processor_kwargs = {} if processor_kwargs is None else processor_kwargs
    folder = media_dir or Path(tempfile.gettempdir()) / "crossomni-openai-media"
    parts = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "image":
            url = Path(part["image"]).resolve().as_uri() if media == "file" else _data_url(part["image"], "image/jpeg")
            parts.append({"type": "image_url", "image_url": {"url": url}})
        elif kind == "video":
            parts.append(_video_part(part, media, folder, processor_kwargs))
        elif kind == "audio":
            parts.append(_audio_part(part))
        else:
            raise ValueError(f"unsupported content part type {kind!r}")
    return parts


def build_payload(request: ModelRequest, media: str = "data") -> dict[str, Any]:
    """The ``chat.completions.create`` keyword arguments for one request."""
    processor_kwargs: dict[str, Any] = {}
    payload: dict[str, Any] = {
        "model": request.model,
        "messages": [
            {**m, "content": to_openai_content(m["content"], media, processor_kwargs)} for m in request.messages
        ],
    }
    payload.update({k: request.sampling[k] for k in _SAMPLING_KEYS if k in request.sampling})
    if request.json_schema is not None:
        payload["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": request.prompt_version.replace(".", "_"), "schema": request.json_schema},
        }
    extra_body: dict[str, Any] = {}
    if "enable_thinking" in request.sampling:
        extra_body["chat_template_kwargs"] = {"enable_thinking": request.sampling["enable_thinking"]}
    if processor_kwargs:  # vLLM's server reads these (fps, pixels, use_audio_in_video) like the offline engine
        extra_body["mm_processor_kwargs"] = processor_kwargs
    if extra_body:
        payload["extra_body"] = extra_body
    return payload


class OpenAIBackend:
    """Batched calls to an OpenAI-compatible server with bounded concurrency, retries and timeouts."""

    name = "openai"
    reads_media = True  # segments are sampled and encoded here before they are sent (model_calls.prefetch)

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        concurrency: int = 16,
        timeout: float = 300.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        media: str = "data",
        client: Any = None,
    ) -> None:
        if media not in ("data", "file"):
            raise ValueError(f"media must be 'data' or 'file', got {media!r}")
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"  # local servers accept any key
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self.media = media
        self._client = client
        self.calls = 0
        self.retries = 0

    def _make_client(self) -> Any:
        if self._client is not None:
            return self._client
        from openai import AsyncOpenAI

        # retries are ours (counted, with our backoff); the client's own are off
        return AsyncOpenAI(base_url=self.base_url, api_key=self._api_key, timeout=self.timeout, max_retries=0)

    def generate(self, requests: Sequence[ModelRequest]) -> list[ModelResponse]:
        self.calls += 1
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._generate(requests))
        # called from inside an event loop (e.g. a notebook): run ours in a thread
        result: list[list[ModelResponse]] = []
        thread = threading.Thread(target=lambda: result.append(asyncio.run(self._generate(requests))))
        thread.start()
        thread.join()
        return result[0]

    async def _generate(self, requests: Sequence[ModelRequest]) -> list[ModelResponse]:
        client = self._make_client()
        semaphore = asyncio.Semaphore(self.concurrency)
        try:
            return list(await asyncio.gather(*(self._one(client, semaphore, r) for r in requests)))
        finally:
            if self._client is None:
                await client.close()

    async def _one(self, client: Any, semaphore: asyncio.Semaphore, request: ModelRequest) -> ModelResponse:
        import openai

        key = "unkeyed"  # a request whose media cannot be read has no key either
        try:
            key = request.key()
            payload = build_payload(request, self.media)
        except (OSError, ValueError, RuntimeError) as err:
            return ModelResponse(key, request.model, error=f"cannot build request: {err}")
        transient = (
            openai.APIConnectionError,
            openai.APITimeoutError,
            openai.RateLimitError,
            openai.InternalServerError,
        )
        for attempt in range(self.max_retries + 1):
            try:
                async with semaphore:
                    completion = await client.chat.completions.create(**payload)
                text = completion.choices[0].message.content
                usage = completion.usage.model_dump() if getattr(completion, "usage", None) else {}
                if text is None:
                    return ModelResponse(key, request.model, error="empty completion", usage=usage)
                return ModelResponse(key, request.model, text=text, usage=usage)
            except transient as err:
                if attempt == self.max_retries:
                    return ModelResponse(
                        key, request.model, error=f"{type(err).__name__} after {attempt + 1} tries: {err}"
                    )
                self.retries += 1
                await asyncio.sleep(self.backoff * 2**attempt)
            except openai.APIStatusError as err:
                return ModelResponse(key, request.model, error=f"{type(err).__name__} {err.status_code}: {err.message}")
        raise AssertionError("unreachable")
