"""The model-call layer shared by the builder, evaluation and the GRPO judge.

One batched interface, ``Backend.generate(requests) -> responses``, with backends chosen by
name (``vllm``, ``openai``, ``transformers``, ``replay``) and a sqlite response cache keyed
by the request's stable key (model, prompt version, messages, sampling, media content).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model_calls.base import Backend, ModelRequest, ModelResponse
    from model_calls.cache import CachedBackend, ResponseCache
    from model_calls.registry import get_backend, register_backend

# Imported on first use (PEP 562): ``import builder`` registers a backend without loading the layer.
_EXPORTS = {
    "Backend": "model_calls.base",
    "ModelRequest": "model_calls.base",
    "ModelResponse": "model_calls.base",
    "CachedBackend": "model_calls.cache",
    "ResponseCache": "model_calls.cache",
    "get_backend": "model_calls.registry",
    "register_backend": "model_calls.registry",
}
__all__ = [
    "Backend",
    "CachedBackend",
    "ModelRequest",
    "ModelResponse",
    "ResponseCache",
    "get_backend",
    "register_backend",
]


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'model_calls' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
