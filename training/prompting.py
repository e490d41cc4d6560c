"""Training prompts and targets: the chat messages of one instance and what the model should answer.

The user turn is built exactly as evaluation builds it (``evaluation.inputs.build_messages``) from a
versioned evaluation template (``evaluation/prompts``, ``default.v2`` by default), the input preset
and the model family's system prompt, so an adapter is trained on the inputs it is later scored on.
SFT's target is the rationale in a ``<think>`` block, then the letter alone — the shape the format
reward checks and the CoT/ICL evaluation prompts ask for — or the letter alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from evaluation.inputs import InputConfig, build_messages
from evaluation.prompting import render_prompt
from model_calls.presets import InputPreset

DEFAULT_PROMPT_TEMPLATE = "default.v2"  # the letter alone: answer-only SFT
REASONING_PROMPT_TEMPLATE = "think.v2"  # reasoning in <think>, then the letter: rationale SFT and GRPO
SUPERVISIONS: tuple[str, ...] = ("rationale", "answer")


@lru_cache(maxsize=8)
def load_template(name: str):
    """A Jinja template shipped in ``training/prompts`` (the judge rubrics)."""
    import jinja2

    text = resources.files("training.prompts").joinpath(name).read_text(encoding="utf-8")
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False).from_string(text)


def render(name: str, **values: Any) -> str:
    return load_template(name).render(**values).strip()


@dataclass(frozen=True)
class TrainingPrompt:
    """Which evaluation template (``NAME.VERSION``) and system prompt the training conversations use."""

    template: str = DEFAULT_PROMPT_TEMPLATE
    system_prompt: str | None = None

    @property
    def mode(self) -> str:
        return self.template.rsplit(".", 1)[0]

    @property
    def version(self) -> str:
        return self.template.rsplit(".", 1)[1]

    def __post_init__(self) -> None:
        if "." not in self.template:
            raise ValueError(f"prompt template {self.template!r} is not NAME.VERSION (e.g. default.v2)")

    def task_text(self, row: dict[str, Any]) -> str:
        """The text part of the user turn (biographies, question, lettered options, the reply it asks for)."""
        fields = {**row, "task_type": row.get("task_name", row.get("task_type"))}
        return render_prompt(fields, self.mode, self.version)

    def messages(self, row: dict[str, Any], source: str | bytes, preset: InputPreset) -> list[dict[str, Any]]:
        """The conversation asking one instance: what evaluation sends for the same row, preset and template."""
        config = InputConfig(inputs="full", preset=preset, system_prompt=self.system_prompt)
        start, end = float(row["start"]), float(row["end"])
        return list(build_messages(self.task_text(row), config, source, source, start, end))


def target_text(row: dict[str, Any], supervision: str = "rationale") -> str:
    """What SFT teaches the model to answer.

    >>> target_text({"rationale": "Step 1: ...\\nSo the answer is B.", "answer": "B"})
    '<think>\\nStep 1: ...\\nSo the answer is B.\\n</think>\\nB'
    >>> target_text({"rationale": "Step 1: ...", "answer": "B"}, supervision="answer")
    'B'
    """
    if supervision not in SUPERVISIONS:
        raise ValueError(f"supervision must be one of {SUPERVISIONS}, got {supervision!r}")
    if supervision == "answer":
        return row["answer"]
    rationale = str(row.get("rationale") or "").strip()
    if not rationale:
        raise ValueError(f"instance {row.get('id')}: supervision 'rationale' needs a rationale (train split)")
    return f"<think>\n{rationale}\n</think>\n{row['answer']}"
