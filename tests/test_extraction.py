"""Answer extraction on real-looking and adversarial model outputs."""

from __future__ import annotations

import pytest

from evaluation.crossomni_acc.answer_extraction import extract_choice, strict_choice, strip_thinking

OPTIONS = ["restaurant critic", "stage actor", "calm", "calm expression"]
OPTS = ["pastry chef", "data analyst", "stage actor", "nurse"]
CLOTHES = ["a red sweater", "a blue jacket", "a white shirt", "a black coat"]

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

# (model output, options, the reading a careful human gives). Written for these rules' cases: the shapes of
# issue 12 and NOTES-EVAL, then a second batch of outputs in the style of Qwen2.5-Omni/GPT answers.
TABLE = [
    ("The answer is B, since option A is the other woman.", None, "B"),
    ("Final answer: B\n\nNote: option A was close.", None, "B"),
    ("The correct option is C. Option A is wrong.", None, "C"),
    ("It is not A.", None, None),
    ("The answer is not A.", None, None),
    ("Answer: (B) or (C)", None, None),
    ('{"answer": "B"}', None, "B"),
    ("<think>r</think>\nThe answer is not A.", None, None),
    ("The correct answer is (B)", None, "B"),
    ("C. A pretty red dress", None, "C"),
    ("The man on the right is rich in vitamin D.", None, None),
    ("A pretty dress is worn by the woman on the left.", None, None),
    ("Answer: D", None, "D"),
    ("answer: c", None, "C"),
    ("**Final Answer:** A", None, "A"),
    ("Final answer:\nB", None, "B"),
    ("The correct answer is option D.", None, "D"),
    ("I would go with C.", None, "C"),
    ("I'd pick B because her voice is the higher one.", None, "B"),
    ("My choice is (A).", None, "A"),
    ("Option C is correct: the man in the grey suit speaks first.", None, "C"),
    ("B is the right answer.", None, "B"),
    ("The answer is A because he is the one who mentions the museum.", None, "A"),
    ("I first thought A, but the final answer is D.", None, "D"),
    ("The answer is B. Looking again at the biography, the answer is C.", None, "C"),
    ("The answer is not A but C.", None, "C"),
    ("The answer is D, not B.", None, "D"),
    ("Final answer: C. (B would fit only if the speaker were Monica.)", None, "C"),
    ("The answer is 'b'.", None, "B"),
    ("Answer: [C]", None, "C"),
    ("Actually, it's B.", None, "B"),
    ("The answer is either B or D.", None, None),
    ("Answer: B/C", None, None),
    ("It could be A or C; I can't tell from the clip.", None, None),
    ("Both A and B seem plausible.", None, None),
    ("Answer: A and D", None, None),
    ("B", None, "B"),
    ("d", None, "D"),
    ("(A)", None, "A"),
    ("C.", None, "C"),
    ("The high voice belongs to Rachel, who is wearing the purple shirt.\n\nD", None, "D"),
    ("B\n\nThe speaker with the low voice is Joey; he is the actor.", None, "B"),
    ("D, because the man in black speaks last.", None, "D"),
    ("B) She is wearing a purple shirt.", None, "B"),
    ("A. pastry chef — no, she never bakes.\nB. data analyst — yes.\nC. stage actor — no.", None, None),
    ("A. pastry chef: no.\nB. data analyst: yes.\n\nAnswer: B", None, "B"),
    ("A, B and C contradict the biography, so D.", None, "D"),
    ('```json\n{"answer": "C", "reason": "the woman on the left"}\n```', None, "C"),
    ('{"final_answer": "(A)"}', None, "A"),
    ("{'answer': 'D'}", None, "D"),
    ('{"answer": "data analyst"}', OPTS, "B"),
    ("<answer>B</answer>", None, "B"),
    ("Therefore \\boxed{C}.", None, "C"),
    ("<think>A or B? The speaker says A.</think>\nD", None, "D"),
    ("<think>The answer is A.</think>\nThe answer is C.", None, "C"),
    ("<think>The model ran out of tokens, A B C", None, None),
    ("<think>Rachel.</think>", None, None),
    ("She is a data analyst.", OPTS, "B"),
    ("He is not a stage actor; he works as a nurse.", OPTS, "D"),
    ("Either a pastry chef or a nurse.", OPTS, None),
    ("The answer is the stage actor.", OPTS, "C"),
    ("I cannot determine the answer from the video.", None, None),
    ("The person is Rachel.", None, None),
    ("Answer the question based on the video and the biographies.", None, None),
    ("The answer is a tricky one to find.", None, None),
    ("None of the options match.", None, None),
    ("", None, None),
    ("It's not (B). The woman in red is the nurse.", None, None),
    ("Not A. It's C.", None, "C"),
    ("We can rule out A; so the answer is D.", None, "D"),
    ("After looking at the clip I would pick B", None, "B"),
    ("So it's D.", None, "D"),
    ("The woman on the left, (c), matches the description.", None, "C"),
    ("A. Rachel, no: she is on the left.\nB. Monica, no.\nSo the answer is C.", None, "C"),
    ("The answer is B.\n\nA. is wrong because the pastry chef never speaks.", None, "B"),
    ("Hard to say from the frames, but I think A.", None, "A"),
    ("I think A is wrong here.", None, None),
    # second batch
    (
        "Based on the video, the person speaking with the deep voice is wearing a blue jacket. So the answer is B.",
        None,
        "B",
    ),
    ("The correct answer is: **C. a white shirt**", None, "C"),
    ("Answer: B. a blue jacket", CLOTHES, "B"),
    ("The answer is B) a blue jacket.", None, "B"),
    ("Option B: a blue jacket", None, "B"),
    ("B. a blue jacket", CLOTHES, "B"),
    ("The person is wearing a blue jacket.", CLOTHES, "B"),
    ("The person is not wearing a red sweater; she is in a white shirt.", CLOTHES, "C"),
    ("The best answer is D.", None, "D"),
    ("Therefore, the correct choice is (A).", None, "A"),
    ("The answer should be C.", None, "C"),
    ("I think the answer is probably B.", None, "B"),
    ("Answer - D", None, "D"),
    ("Correct answer: A", None, "A"),
    ("The final answer is $\\boxed{B}$", None, "B"),
    ("Hmm, A or B... I will choose B.", None, "B"),
    ("The answer is A or B.", None, None),
    ("Answer: C\nExplanation: The woman on the left is Monica, and her biography says she is a chef.", None, "C"),
    ("A\n", None, "A"),
    ("  \n(B)\n", None, "B"),
    ("Option D.", None, "D"),
    ("The answer is (D) a black coat.", CLOTHES, "D"),
    ("I'm not sure, but I'd guess C.", None, "C"),
    ("It is impossible to say; neither A nor B fits.", None, None),
    ("The answer cannot be determined.", None, None),
    ("Answer: none of the above", None, None),
    ("The answer is C, as stated in the biography of Ross (who is not A's husband).", None, "C"),
    ("Since the man in option A is not shown, the answer is B.", None, "B"),
    ("Answer:\n\nD", None, "D"),
    ("答案：B", None, "B"),
]


@pytest.mark.parametrize(("text", "options", "expected"), CASES)
def test_extract_choice(text, options, expected):
    assert extract_choice(text, options) == expected


@pytest.mark.parametrize(("text", "options", "expected"), TABLE)
def test_reads_as_a_careful_human(text, options, expected):
    assert extract_choice(text, options) == expected


def test_table_covers_the_shapes_it_must():
    assert len(TABLE) >= 60
    assert sum(expected is None for _, _, expected in TABLE) >= 20  # unparseable readings: hedges, negations, none
    assert sum(options is not None for _, options, _ in TABLE) >= 8


def test_a_failure_is_scored_wrong_and_counted():
    from evaluation.crossomni_acc.scoring import score

    outputs = ["Answer: (B) or (C)", "It is not A.", "The answer is B, since option A is the other woman."]
    result = score(outputs, ["B", "A", "B"], ["audio", "vision", "text"], confidence_level=None)
    assert result["overall"] == pytest.approx(1 / 3) and result["parse_failures"] == 2


STRICT = [
    ("<think>\nThe high voice is Rachel's.\n</think>\nB", "B"),
    ("<think>r</think>D", "D"),
    ("<think>r</think>\nD\n", "D"),
    ("<think>r</think>\nThe answer is not A.", None),
    ("<think>r</think>\nThe answer is B.", None),
    ("<think>r</think>\nB.", None),
    ("<think>r</think>\nb", None),
    ("<think>r</think>\n(B)", None),
    ("<think>r</think>\nB or C", None),
    ("<think>r</think>\nE", None),
    ("B", None),  # no thinking block
    ("<think>unclosed B", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("text", "expected"), STRICT)
def test_strict_mode_wants_think_then_one_letter(text, expected):
    assert strict_choice(text) == expected


def test_letters_follow_the_number_of_options():
    five = ["one", "two", "three", "four", "five"]
    assert extract_choice("The answer is E.", five) == "E"
    assert extract_choice("The answer is E.") is None  # E is not a choice of a 4-option question


def test_strip_thinking_keeps_only_the_answer_part():
    assert strip_thinking("<think>x</think>B").strip() == "B"
    assert strip_thinking("<THINK>x</THINK> y <think>z").strip() == "y"


# Probes written while extending the reader to other languages and formats: negations and second answers in
# each, and the cases where a container, a statement and a last line disagree.
PROBES = [
    ("选B，不选A", "B"),
    ("我不选A，选B", "B"),
    ("正确答案不是C，是D", "D"),
    ("答案可能是B或C", None),
    ("A不是正确答案", None),
    ("정답은 A가 아닙니다.", None),
    ("答えはAではありません。", None),
    ("La respuesta no es la A.", None),
    ("Die Antwort ist nicht A.", None),
    ("Réponse : (B) ou (C)", None),
    ("Ответ: вариант B", "B"),
    ("الإجابة بالتأكيد", None),
    ("(A)(B)", None),
    ("(A) (B)", None),
    ("(A)(A)", "A"),
    ("Option A: no. Option B: yes.", None),
    ("Answer: B\n\nA", None),
    ("The answer is B. This answer is based on the audio.", "B"),
    ("The answer is B. Actually the answer is none of the above.", None),
    ("The count is \\boxed{2}. So the answer is B.", "B"),
    ("<answer>B</answer>\n\nThe answer is B.", "B"),
    ("<|im_start|>assistant\nC<|im_end|>", "C"),  # a decode that kept the template's header
    ("C<|im_end|>\n<|im_start|>user\nAnd the man in red? A", "C"),
]


@pytest.mark.parametrize(("text", "expected"), PROBES)
def test_probes_of_the_multilingual_reader(text, expected):
    assert extract_choice(text) == expected
