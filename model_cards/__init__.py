"""Dataset and adapter cards rendered from ``huggingface_hub`` card data and shipped Jinja templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_calls.redaction import redact_text


def save_card(card: Any, path: Path) -> Path:
    """Save a ``huggingface_hub`` card with every credential a value carried (a URL's password, a
    ``token=...``) redacted: a card is published."""
    card.content = redact_text(card.content)
    card.save(path)
    return path
