"""Answer extraction on real-looking and adversarial model outputs."""

from __future__ import annotations

import pytest

from evaluation.crossomni_acc.answer_extraction import extract_choice, strip_thinking

OPTIONS = ["restaurant critic", "stage actor", "calm", "calm expression"]

CASES = [
    # explicit statements
    ("The answer is B.", None, "B"),
    ("The correct answer is (B)", None, "B"),
    ("Answer: c", None, "C"),
    ("answer is d.", None, "D"),
    ('answer: "C"', None, "C"),
    ("The answer is 'b'.", None, "B"),
    ("Final answer: **A**", None, "A"),
    ("I think it is A at first, but the final answer is C.", None, "C"),
    ("Looking again, option D is the one.", None, "D"),
    ("<answer>B</answer>", None, "B"),
    ("So the result is \\boxed{C}", None, "C"),
    # a lone letter, in any case, with punctuation
    ("B", None, "B"),
    ("b", None, "B"),
    ("  (D).  ", None, "D"),
    ("C.", None, "C"),
    ("Reasoning about the voices...\n\nA\n", None, "A"),
    # "(X)" and "X." / "X)" formats
    ("The woman on the left, (c), matches the description", None, "C"),
    ("C. A pretty red dress", None, "C"),
    ("B) She is wearing a purple shirt", None, "B"),
    # thinking blocks
    ("<think>It could be A or B. The speaker says A.</think>\nD", None, "D"),
    ("<think>long reasoning that names option A and (B)</think> The answer is c", None, "C"),
    ("<think>the model ran out of tokens before answering, A B C", None, None),
    ("Let me think. A or C?</think>B", None, "B"),
    # option text matching (when options are given)
    ("He is a stage actor.", OPTIONS, "B"),
    ("The speaker sounds calm expression-wise? No: a calm expression.", OPTIONS, "D"),
    ("It is either restaurant critic or stage actor.", OPTIONS, None),
    ("Not a stage actor. The answer is restaurant critic", OPTIONS, "A"),
    # weak formats: start/end capital
    ("D, because the man in black speaks last.", None, "D"),
    ("After looking at the clip I would pick B", None, "B"),
    # adversarial: stray capitals, articles, words, nothing parseable
    ("The person is Rachel.", None, None),
    ("A pretty dress is worn by the woman on the left", None, None),
    ("I cannot determine the answer from the video.", None, None),
    ("The answer is a tricky one to find", None, None),
    ("Answer the question based on the video", None, None),
    ("", None, None),
    (None, None, None),
    ("<think>A</think>", None, None),
    ("Based on the audio and the biography", None, None),
]


@pytest.mark.parametrize(("text", "options", "expected"), CASES)
def test_extract_choice(text, options, expected):
    assert extract_choice(text, options) == expected


def test_letters_follow_the_number_of_options():
    five = ["one", "two", "three", "four", "five"]
    assert extract_choice("The answer is E.", five) == "E"
    assert extract_choice("The answer is E.") is None  # E is not a choice of a 4-option question


def test_strip_thinking_keeps_only_the_answer_part():
    assert strip_thinking("<think>x</think>B").strip() == "B"
    assert strip_thinking("<THINK>x</THINK> y <think>z").strip() == "y"
