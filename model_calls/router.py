"""One backend per model for engines that load a single model (``vllm``, ``transformers``), or per
server for ``openai``: the builder's roles use different models (a VLM, a text LLM, an omni model).

Local engines are swapped: at most ``max_loaded`` stay alive, the least recently used is closed
and its GPU memory released before the next one loads. The builder's stages use one role each
and are ordered so each model loads as few times as possible.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from model_calls.base import Backend, ModelRequest, ModelResponse


def release(backend: Backend) -> None:
    """Close a backend and give its accelerator memory back (best effort)."""
    close = getattr(backend, "close", None)
    if callable(close):
        close()
    del backend
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


class ModelRouter:
    """Send each request to the backend of its ``model`` (created on first use by ``factory(model)``)."""

    def __init__(
        self, name: str, factory: Callable[[str], Backend], max_loaded: int | None = 1, reads_media: bool = False
    ) -> None:
        self.name = name
        self.reads_media = reads_media  # whether its engines decode media in this process (model_calls.prefetch)
        self.factory = factory
        self.max_loaded = max_loaded
        self.live: OrderedDict[str, Backend] = OrderedDict()
        self.loads: list[str] = []  # models in load order (a reload shows up twice)
        self._closed_calls = 0

    @property
    def calls(self) -> int:
        return self._closed_calls + sum(b.calls for b in self.live.values())

    def _backend(self, model: str) -> Backend:
        if model in self.live:
            self.live.move_to_end(model)
            return self.live[model]
        while self.max_loaded is not None and len(self.live) >= self.max_loaded:
            _, old = self.live.popitem(last=False)
            self._closed_calls += old.calls
            release(old)
        backend = self.factory(model)
        self.live[model] = backend
        self.loads.append(model)
        return backend

    def generate(self, requests: Sequence[ModelRequest]) -> list[ModelResponse]:
        results: list[ModelResponse | None] = [None] * len(requests)
        by_model: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            by_model.setdefault(request.model, []).append(i)
        for model, indices in by_model.items():
            responses = self._backend(model).generate([requests[i] for i in indices])
            for i, response in zip(indices, responses, strict=True):
                results[i] = response
        return [r for r in results if r is not None]

    def close(self) -> None:
        while self.live:
            _, backend = self.live.popitem(last=False)
            self._closed_calls += backend.calls
            release(backend)


def routed_backend(name: str, options: dict[str, Any], role_options: dict[str, dict[str, Any]]) -> Backend:
    """The backend for ``--backend name``: routed per model for single-model engines and ``openai``.

    ``role_options`` maps a model id to the extra options of the role using it (models YAML).
    """
    from model_calls.registry import backend_class, get_backend

    if name in ("vllm", "transformers"):
        if "model" in options:
            raise ValueError(f"--backend {name}: models come from the models YAML (one per role); drop -o model=...")
        reads = bool(getattr(backend_class(name), "reads_media", False))
        return ModelRouter(
            name, lambda model: get_backend(name, model=model, **options, **role_options.get(model, {})), 1, reads
        )
    if name == "ray":  # the actors build one engine per model, with that model's role options
        return get_backend(name, **options, role_options=role_options)
    if name == "openai":

        def server(model: str) -> Backend:
            return get_backend(name, **{**options, **role_options.get(model, {})})

        return ModelRouter(name, server, None, bool(getattr(backend_class(name), "reads_media", False)))
    return get_backend(name, **options)
