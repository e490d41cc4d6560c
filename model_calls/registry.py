"""Backends by name: each is an import path, imported only when a backend of that name is made.

Kept apart from ``model_calls.base`` (requests, responses) so that registering one (``builder``
registers its ``scripted`` backend on import) costs no import of the layer itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from model_calls.base import Backend

# name -> ("module:attribute", extra to install when the import fails)
_REGISTRY: dict[str, tuple[str, str | None]] = {
    "replay": ("model_calls.replay:ReplayBackend", None),
    "openai": ("model_calls.openai_backend:OpenAIBackend", None),
    "transformers": ("model_calls.transformers_backend:TransformersBackend", None),
    "vllm": ("model_calls.vllm_backend:VLLMBackend", "vllm"),
    "ray": ("model_calls.ray_backend:RayBackend", "ray"),
}


def register_backend(name: str, target: str, extra: str | None = None) -> None:
    """Register a backend class by import path (``"package.module:Class"``)."""
    _REGISTRY[name] = (target, extra)


def backend_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def backend_class(name: str) -> Callable[..., Backend]:
    """The class (factory) of a backend name; heavy backends are imported only here."""
    if name not in _REGISTRY and ":" in name:
        register_backend(name, name)  # "package.module:Class", importable where the backend runs
    if name not in _REGISTRY:
        raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(_REGISTRY)}")
    target, extra = _REGISTRY[name]
    module_name, attribute = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        if extra:
            raise ImportError(
                f"backend {name!r} needs the optional extra: pip install 'crossomni[{extra}]' ({err})"
            ) from err
        raise
    factory: Callable[..., Backend] = getattr(module, attribute)
    return factory


def get_backend(name: str, **kwargs: Any) -> Backend:
    """Instantiate a backend by name."""
    return backend_class(name)(**kwargs)
