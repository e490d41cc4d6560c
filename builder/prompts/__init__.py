"""Versioned prompt templates (``<name>.v<N>.jinja``) and the structured replies they ask for.

The prompt version (file stem, e.g. ``caption.v1``) is part of every request's cache key:
edit a template by adding ``<name>.v2.jinja``, so cached replies to the old one are not reused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from pydantic import BaseModel, ValidationError

PROMPT_VERSIONS: dict[str, str] = {
    "caption": "caption.v1",
    "video_description": "video_description.v1",
    "video_check": "video_check.v1",
    "summary": "summary.v1",
    "person": "person.v1",
    "voice": "voice.v1",
    "biography": "biography.v2",
    "qa": "qa.v3",
    "verify_unique": "verify_unique.v1",
    "verify_answerable": "verify_answerable.v1",
    "rationale": "rationale.v1",
    "blind": "blind.v1",
}

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


@dataclass(frozen=True)
class Prompt:
    version: str
    template: jinja2.Template

    def render(self, **context: Any) -> str:
        return self.template.render(**context).strip()


@cache
def load_prompt(name: str) -> Prompt:
    """The template of prompt ``name`` (``caption``...) at the version pinned in ``PROMPT_VERSIONS``."""
    version = PROMPT_VERSIONS[name]
    text = resources.files("builder.prompts").joinpath(f"{version}.jinja").read_text(encoding="utf-8")
    return Prompt(version, _ENV.from_string(text))


@cache
def load_templates() -> dict[str, Any]:
    """Phrases of the template QA generator and rationales (``templates.v2.yaml``)."""
    from model_calls.store import load_yaml

    return load_yaml(resources.files("builder.prompts").joinpath("templates.v2.yaml").read_text(encoding="utf-8"))


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str) -> str:
    """The JSON object in a reply: fenced block, or the span from the first ``{`` to the last ``}``."""
    text = re.sub(r"<think>.*?</think>", "", text, flags=re.DOTALL)
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end <= start:
        raise ValueError("no JSON object in the reply")
    return text[start : end + 1]


def parse_reply(text: str | None, schema: type[BaseModel]) -> tuple[BaseModel | None, str | None]:
    """Validate a reply against ``schema``: ``(parsed, None)`` or ``(None, why it failed)``."""
    if text is None:
        return None, "empty reply"
    try:
        return schema.model_validate_json(extract_json(text)), None
    except (ValueError, ValidationError) as err:
        message = str(err).splitlines()
        return None, f"unparseable reply: {' '.join(line.strip() for line in message[:3])}"[:300]


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema sent with a request (canonical, so the cache key is stable); a fresh copy each call."""
    return json.loads(_schema_text(model))


@cache
def _schema_text(model: type[BaseModel]) -> str:
    # pydantic builds a schema in ~1.5 ms; a stage asks for the same few thousands of times
    return json.dumps(model.model_json_schema(), sort_keys=True)
