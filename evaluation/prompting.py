"""Render CrossOmni prompts (default / CoT / ICL) from the versioned templates in ``prompts/``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from crossomni import LETTERS, TASK_NAMES
from model_calls.store import load_yaml

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
PROMPT_MODES: tuple[str, ...] = ("default", "cot", "icl", "think")  # think: the trained models' shape
DEFAULT_VERSION = "v2"  # v2: the notes header says not everyone listed is in the clip


def prompt_id(mode: str, version: str = DEFAULT_VERSION) -> str:
    """The id recorded with every prediction, e.g. ``icl.v2``."""
    if mode not in PROMPT_MODES:
        raise ValueError(f"unknown prompting {mode!r}; expected one of {', '.join(PROMPT_MODES)}")
    return f"{mode}.{version}"


@lru_cache(maxsize=4)
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PROMPTS_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


@lru_cache(maxsize=4)
def icl_examples(version: str = DEFAULT_VERSION) -> dict[str, Any]:
    """The in-context material: ``scene`` (the examples' clip in words) and one example per task type."""
    path = PROMPTS_DIR / f"icl_examples.{version}.yaml"
    document = load_yaml(path.read_text(encoding="utf-8"))
    examples = document["examples"]
    missing = sorted(set(TASK_NAMES) - set(examples))
    if missing:
        raise ValueError(f"{path}: no worked example for task type(s) {', '.join(missing)}")
    for task, example in examples.items():
        if len(example["steps"]) != 4 or example["answer"] not in LETTERS[: len(example["options"])]:
            raise ValueError(f"{path}: example {task!r} needs 4 steps and an answer among its options")
    return document


def render_prompt(
    row: Mapping[str, Any],
    mode: str = "default",
    version: str = DEFAULT_VERSION,
    task: str | None = None,
) -> str:
    """The user text of one instance: ``row`` needs ``question``, ``options`` and (optionally) ``biography``.

    ``task`` selects the ICL worked example (defaults to ``row["task_type"]``).
    """
    prompt_id(mode, version)
    options: Sequence[str] = row["options"]
    letters = _letters(len(options))
    context: dict[str, Any] = {
        "biography": (row.get("biography") or "").strip(),
        "question": str(row["question"]).strip(),
        "options": list(zip(letters, options, strict=True)),
        "letters": letters,
    }
    if mode == "icl":
        task = task or row.get("task_type")
        material = icl_examples(version)
        examples = material["examples"]
        if task not in examples:
            raise ValueError(f"no in-context example for task {task!r}; ICL prompting needs a CrossOmni task type")
        example = examples[task]
        context["example"] = {**example, "options": list(zip(LETTERS, example["options"], strict=False))}
        context["scene"] = " ".join(material["scene"].split())
    return _environment().get_template(f"{mode}.{version}.jinja").render(**context).strip() + "\n"


def _letters(count: int) -> list[str]:
    if not 2 <= count <= 26:
        raise ValueError(f"expected 2 to 26 options, got {count}")
    return [chr(ord("A") + i) for i in range(count)]
