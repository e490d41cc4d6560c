"""The model-call layer shared by the builder, evaluation and the GRPO judge.

One batched interface, ``Backend.generate(requests) -> responses``, with backends chosen by
name (``vllm``, ``openai``, ``transformers``, ``replay``) and a sqlite response cache keyed
by the request's stable key (model, prompt version, messages, sampling, media content).
"""

from model_calls.base import (
    Backend,
    ModelRequest,
    ModelResponse,
    get_backend,
    register_backend,
)
from model_calls.cache import CachedBackend, ResponseCache

__all__ = [
    "Backend",
    "CachedBackend",
    "ModelRequest",
    "ModelResponse",
    "ResponseCache",
    "get_backend",
    "register_backend",
]
