"""Prompt templates render for all nine task types and the three prompting modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossomni import LETTERS, TASK_NAMES
from evaluation.prompting import PROMPT_MODES, icl_examples, prompt_id, render_prompt

RELEASE = Path(__file__).resolve().parents[1] / "builder" / "sample" / "release"


def _rows_by_task() -> dict[str, dict]:
    rows = [json.loads(line) for line in (RELEASE / "test.jsonl").read_text().splitlines() if line.strip()]
    return {row["task_type"]: row for row in rows}


ROWS = _rows_by_task()


@pytest.mark.parametrize("mode", PROMPT_MODES)
@pytest.mark.parametrize("task", TASK_NAMES)
def test_prompt_renders_question_options_and_biography(task, mode):
    row = ROWS[task]
    text = render_prompt(row, mode)
    assert row["question"] in text
    assert row["biography"].splitlines()[0] in text
    for letter, option in zip(LETTERS, row["options"], strict=True):
        assert f"{letter}. {option}" in text
    if mode == "icl":  # the real question comes last, after the worked example
        assert text.rindex(row["question"]) > text.rfind("</think>")
    assert "{{" not in text and "{%" not in text


@pytest.mark.parametrize("task", TASK_NAMES)
def test_icl_prompt_carries_the_worked_example_of_its_task(task):
    text = render_prompt(ROWS[task], "icl")
    example = icl_examples()["examples"][task]
    assert example["question"] in text
    assert "<think>\n1. " in text and "\n4. " in text and "</think>" in text
    for step in example["steps"]:
        assert step in text
    # the example ends with its letter alone, as the answer format asks
    assert f"</think>\n{example['answer']}\n" in text
    # only this task's example, not the others'
    others = [e["question"] for name, e in icl_examples()["examples"].items() if name != task]
    assert not any(question in text for question in others)


def test_modes_differ_in_their_instruction():
    row = ROWS["vision_to_text"]
    default, cot, icl, think = (render_prompt(row, mode) for mode in ("default", "cot", "icl", "think"))
    assert "step by step" not in default and "step by step" in cot
    assert "<think>" in icl and "<think>" not in default
    assert "<think>" in think and "only the letter" in think and "Answer: X" not in think


def test_prompts_are_in_the_projects_own_words():
    """The paper's prompt sentences are not copied into the templates."""
    paper_sentences = [
        "Answer this question based on the video and text information in A/B/C/D.",
        "Let's think step by step.",
        "You are REQUIRED to first think step by step",
        "If you do NOT follow this format, your answer will be considered incorrect.",
    ]
    text = "".join(render_prompt(ROWS[task], mode) for task in TASK_NAMES for mode in PROMPT_MODES)
    assert not any(sentence in text for sentence in paper_sentences)


def test_prompt_ids_and_errors():
    assert prompt_id("icl") == "icl.v2" and prompt_id("icl", "v1") == "icl.v1"
    with pytest.raises(ValueError, match="unknown prompting"):
        render_prompt(ROWS["audio"], "fewshot")
    generic = {"question": "What happens?", "options": ["a", "b", "c", "d", "e"]}
    text = render_prompt(generic, "default")
    assert "E. e" in text and "Notes about people" not in text and "People in this clip" not in text
    with pytest.raises(ValueError, match="ICL prompting needs a CrossOmni task type"):
        render_prompt({**generic, "task_type": "worldsense"}, "icl")


def test_icl_examples_cover_every_task_with_four_steps():
    examples = icl_examples()["examples"]
    assert set(examples) == set(TASK_NAMES)
    assert all(len(e["steps"]) == 4 and e["answer"] in LETTERS for e in examples.values())


def _sample_people() -> dict[str, set[str]]:
    """Who each sample clip really shows (the spec: the ground truth of the generated media)."""
    from builder.sample.generate import load_spec

    return {clip["vid_name"]: {p["name"] for p in clip["people"]} for clip in load_spec()["clips"]}


@pytest.mark.parametrize("mode", PROMPT_MODES)
def test_the_prompt_never_says_the_notes_list_only_people_of_the_clip(mode):
    """A release's biography also lists decoys, people of other clips: the default prompt must not tell
    the model that everyone it names is in this clip (v1's header did). v1 still renders unchanged, for
    runs and adapters that recorded it."""
    shown = _sample_people()
    listed = {task: {e.partition(":")[0] for e in row["biography"].splitlines()} for task, row in ROWS.items()}
    row = next(row for task, row in ROWS.items() if listed[task] - shown[row["clip_id"]])
    text = render_prompt(row, mode)
    assert "People in this clip" not in text
    assert "Notes about people (not everyone listed appears in this clip):" in text
    assert "People in this clip:" in render_prompt(row, mode, version="v1")


def test_the_icl_example_notes_name_someone_the_example_clip_does_not_show():
    scene = icl_examples()["scene"]
    assert "Marta" in scene and "not in this clip" in scene
    assert "Marta" not in icl_examples("v1")["scene"]
