"""GRPO rewards on hand-written completions, and the judge rewards' failure accounting."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest

from model_calls import ModelResponse
from training import rewards
from training.rewards import CoherenceReward, ConsistencyReward, accuracy_reward, build_rewards, format_reward

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"

GOOD = "<think>\nThe high voice belongs to Rachel; she says she found the recipe.\n</think>\nD"
WRONG = "<think>\nThe low voice is Joey.\n</think>\nA"
NO_THINK = "The answer is D."
CHATTY = "<think>Rachel.</think>\nD, because Rachel says so."


class ScriptedJudge:
    """A model-call backend that answers from a function of the prompt; counts batched calls."""

    name = "scripted"

    def __init__(self, reply) -> None:
        self.reply = reply
        self.calls = 0
        self.requests = []

    def generate(self, requests):
        self.calls += 1
        self.requests.extend(requests)
        out = []
        for request in requests:
            text = self.reply(request.messages[0]["content"])
            if isinstance(text, Exception):
                out.append(ModelResponse(key=request.key(), model=request.model, error=str(text)))
            else:
                out.append(ModelResponse(key=request.key(), model=request.model, text=text))
        return out


def columns(n: int) -> dict:
    return {
        "id": [f"row{i}" for i in range(n)],
        "rationale": ["Step 1: the high-pitched voice is Rachel's. So the answer is D."] * n,
        "task_name": ["audio_to_vision"] * n,
        "question": ["What colour is the shirt of the speaker with the high voice?"] * n,
        "answer": ["D"] * n,
    }


def test_module_doctests_pass() -> None:
    import model_calls.media
    import model_calls.presets
    import model_cards.adapter_card
    import training.modeling

    for module in (rewards, model_calls.media, model_calls.presets, training.modeling, model_cards.adapter_card):
        result = doctest.testmod(module)
        assert result.attempted > 0, module.__name__
        assert result.failed == 0, module.__name__


def test_format_reward_wants_think_block_then_letter_alone() -> None:
    conversational = [[{"role": "assistant", "content": GOOD}]]
    assert format_reward(conversational) == [1.0]
    assert format_reward([GOOD, WRONG, NO_THINK, CHATTY, "<think>a</think><think>b</think>C", ""]) == [
        1.0,
        1.0,
        0.0,
        0.0,
        0.0,
        0.0,
    ]


def test_accuracy_reward_pays_only_the_asked_form() -> None:
    """Only ``</think>`` then the right letter earns it; another readable form, a hedge or a negation doesn't."""
    completions = [
        GOOD,
        WRONG,
        NO_THINK,
        "<think>maybe D</think>\nI cannot tell",
        CHATTY,
        "<think>r</think>\nThe answer is not A.",
        "<think>r</think>\nD or A",
        "<think>r</think>\nd",
        "<think>It is D.</think>",
    ]
    assert accuracy_reward(completions, answer=["D"] * len(completions)) == [1.0] + [0.0] * 8
    assert accuracy_reward(["<think>r</think>\nThe answer is not A."], answer=["A"]) == [0.0]
    options = [["red", "blue", "green", "black"]]  # option text is not the asked form either
    assert accuracy_reward(["<think>x</think>\nIt is black."], answer=["D"], options=options) == [0.0]


@pytest.mark.parametrize(
    ("reply", "levels", "expected"),
    [
        ("4", range(6), 4),
        (" 0\n", range(6), 0),
        ('{"score": 5}', range(6), 5),
        ('```json\n{"score": 2, "why": "partial"}\n```', range(6), 2),
        ("On a scale of 0 to 5, I give it a 4.", range(6), None),
        ("Out of 5, the score is 2.", range(6), None),
        ("Score: 3/3", range(4), None),
        ("1e3", range(6), None),
        ("4.5", range(6), None),
        ("-1", range(6), None),
        ("6", range(6), None),
        ('{"score": 4.0}', range(6), None),
        ('{"score": "4"}', range(6), None),
        ('{"score": true}', range(6), None),
        ('{"rating": 4}', range(6), None),
        ("[4]", range(6), None),
        ("4 4", range(6), None),
        ("", range(6), None),
        (None, range(6), None),
        ("3", ConsistencyReward.levels, None),  # the paper's consistency scale has no 3
        ("3", CoherenceReward.levels, 3),
    ],
)
def test_judge_replies_are_parsed_strictly(reply, levels, expected) -> None:
    assert rewards.parse_score(reply, levels) == expected


def test_rubric_levels_are_the_papers() -> None:
    from training.prompting import render

    assert ConsistencyReward.levels == (0, 1, 2, 4, 5) and CoherenceReward.levels == (0, 1, 2, 3)
    rubric = render(ConsistencyReward.template, reference="R", candidate="C")
    listed = [int(line[0]) for line in rubric.splitlines() if line[:1].isdigit() and line[1:4] == " - "]
    assert listed == [5, 4, 2, 1, 0]
    assert "one of 0, 1, 2, 4 or 5" in rubric


def test_failed_judge_scores_take_their_groups_mean() -> None:
    import torch

    nan = float("nan")
    table = torch.tensor(
        [  # format, accuracy, judge; two groups of 3
            [1.0, 1.0, 0.8],
            [1.0, 0.0, nan],
            [0.0, 0.0, 0.2],
            [1.0, 1.0, nan],
            [1.0, 0.0, nan],
            [1.0, 1.0, nan],
        ]
    )
    filled = rewards.fill_failed_judges(table, 3, [2])
    assert filled[1, 2].item() == pytest.approx(0.5)  # mean of 0.8 and 0.2
    assert torch.isnan(filled[3:, 2]).all()  # a group the judge failed entirely: trl's nansum cancels it
    assert torch.isnan(table[1, 2])  # the input is untouched
    torch.testing.assert_close(filled[:, :2], table[:, :2])


@pytest.mark.parametrize("size", ["3b", "7b"])
def test_recipe_weights_let_accuracy_dominate(size: str) -> None:
    """A wrong answer with perfect format and top judge scores stays below a correct answer with no reasoning."""
    import yaml

    recipe = yaml.safe_load((CONFIGS / f"grpo_qwen2.5-omni-{size}.yaml").read_text())
    weights = dict(zip(recipe["rewards"], recipe["reward_weights"], strict=True))
    assert recipe["scale_rewards"] == "none" and recipe["multi_objective_aggregation"] == "sum_then_normalize"
    judge = ScriptedJudge(lambda prompt: "5" if "REFERENCE" in prompt else "3")
    wrong_but_reasoned = "<think>\nThe high voice is Rachel's; she wears the red shirt.\n</think>\nA"
    correct_bare = "<think> </think>\nD"
    completions = [wrong_but_reasoned, correct_bare]
    cols = columns(2)
    scores = {
        "format": format_reward(completions),
        "accuracy": accuracy_reward(completions, **cols),
        "consistency": ConsistencyReward(judge, "judge-model")(completions, **cols),
        "coherence": CoherenceReward(judge, "judge-model")(completions, **cols),
    }
    assert [scores[name][0] for name in weights] == [1.0, 0.0, 1.0, 1.0]  # fully rated, wrong
    assert [scores[name][1] for name in weights] == [0.0, 1.0, 0.0, 0.0]  # correct, nothing else
    total = [sum(weights[name] * scores[name][i] for name in weights) for i in range(2)]
    assert total[1] > total[0]


def test_consistency_judge_scales_scores_and_batches_one_call() -> None:
    judge = ScriptedJudge(lambda prompt: "4")
    reward = ConsistencyReward(judge, "judge-model")
    logged = []
    scores = reward([GOOD, WRONG, NO_THINK], log_metric=lambda k, v: logged.append((k, v)), **columns(3))
    assert scores == [0.8, 0.8, 0.0]  # no reasoning: 0 without asking the judge
    assert judge.calls == 1 and len(judge.requests) == 2
    prompt = judge.requests[0].messages[0]["content"]
    assert "high-pitched voice is Rachel" in prompt and "belongs to Rachel" in prompt
    assert judge.requests[0].prompt_version == "crossomni-judge-consistency.v2"
    assert reward.stats.requested == 2 and reward.stats.failed == 0 and reward.stats.skipped == 1
    assert logged == [("judge/consistency/failure_rate", 0.0)]


def test_judge_failure_gives_no_reward_and_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    replies = iter(["3", "three", RuntimeError("server said 500"), "9"])
    reward = CoherenceReward(ScriptedJudge(lambda prompt: next(replies)), "judge-model")
    logged = []
    with caplog.at_level("WARNING"):
        scores = reward([GOOD, GOOD, GOOD, GOOD], log_metric=lambda k, v: logged.append((k, v)), **columns(4))
    assert scores == [1.0, None, None, None]  # never a silent 0
    assert reward.stats.failed == 3 and reward.stats.requested == 4
    assert any("server said 500" in error for error in reward.stats.errors)
    assert logged == [("judge/coherence/failure_rate", 0.75)]
    assert "3 of 4 replies failed" in caplog.text


def test_coherence_rubric_follows_the_task_type() -> None:
    judge = ScriptedJudge(lambda prompt: "2")
    reward = CoherenceReward(judge, "judge-model")
    cols = columns(2)
    cols["task_name"] = ["audio_to_vision", "text"]
    assert reward([GOOD, GOOD], **cols) == [pytest.approx(2 / 3)] * 2
    cross, single = (r.messages[0]["content"] for r in judge.requests)
    assert "clue in the audio track" in cross and "found in the video frames" in cross
    assert "clue in the biographies" in single and "stays with that same person" in single


def test_replay_judge_without_a_recording_fails_loudly(tmp_path: Path) -> None:
    from model_calls import get_backend

    recording = tmp_path / "judge.jsonl"
    recording.write_text(json.dumps({"key": "nothing-matches", "text": "5"}) + "\n")
    reward = ConsistencyReward(get_backend("replay", path=recording), "judge-model")
    assert reward([GOOD], **columns(1)) == [None]
    assert reward.stats.failed == 1 and "no recorded reply" in reward.stats.errors[0]


def test_build_rewards_by_name() -> None:
    asked = []

    def judge():
        asked.append(True)
        return ScriptedJudge(lambda prompt: "1"), "judge-model"

    assert build_rewards(["format", "accuracy"], judge=judge) == [format_reward, accuracy_reward]
    assert asked == []  # the w/o T-R ablation never builds a judge
    built = build_rewards(["format", "accuracy", "consistency", "coherence"], judge=judge)
    assert [getattr(r, "__name__", None) for r in built] == [
        "format_reward",
        "accuracy_reward",
        "consistency",
        "coherence",
    ]
    with pytest.raises(ValueError, match="unknown reward"):
        build_rewards(["format", "length"], judge=judge)
    with pytest.raises(ValueError, match="needs a judge"):
        build_rewards(["coherence"])
