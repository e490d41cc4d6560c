"""Training prompts and targets: the chat messages of one instance and what the model should answer.

The answer shape is a ``<think>`` block with the reasoning, then the letter alone — the shape the
format reward checks and the CoT/ICL evaluation prompts ask for.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import crossomni

TASK_PROMPT = "task.v1.jinja"
TASK_PROMPT_VERSION = "crossomni-train-task.v1"
SUPERVISIONS: tuple[str, ...] = ("rationale", "answer")


@lru_cache(maxsize=8)
def load_template(name: str):
    """A Jinja template shipped in ``training/prompts``."""
    import jinja2

    text = resources.files("training.prompts").joinpath(name).read_text(encoding="utf-8")
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False).from_string(text)


def render(name: str, **values: Any) -> str:
    return load_template(name).render(**values).strip()


def task_text(row: dict[str, Any], reasoning: bool = True) -> str:
    """The text part of the user turn: biographies, question, lettered options and the answer shape."""
    options = list(zip(crossomni.LETTERS, row["options"], strict=True))
    return render(
        TASK_PROMPT, biography=row["biography"], question=row["question"], options=options, reasoning=reasoning
    )


def media_parts(source: str, start: float, end: float, audio_in_video: bool) -> list[dict[str, Any]]:
    """Content parts for the clip: the video (its audio track rides along), or video and audio as two parts."""
    parts: list[dict[str, Any]] = [{"type": "video", "video": source, "start": start, "end": end}]
    if not audio_in_video:
        parts.append({"type": "audio", "audio": source, "start": start, "end": end})
    return parts


def prompt_messages(
    row: dict[str, Any], source: str, reasoning: bool = True, audio_in_video: bool = True
) -> list[dict[str, Any]]:
    """The conversation (one user turn) asking one instance, media first as Qwen2.5-Omni expects."""
    content = [
        *media_parts(source, float(row["start"]), float(row["end"]), audio_in_video),
        {"type": "text", "text": task_text(row, reasoning)},
    ]
    return [{"role": "user", "content": content}]


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
