"""GRPO rewards on hand-written completions, and the judge rewards' failure accounting."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest

from model_calls import ModelResponse
from training import rewards
from training.rewards import CoherenceReward, ConsistencyReward, accuracy_reward, build_rewards, format_reward

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


def test_accuracy_reward_reads_the_letter_after_thinking() -> None:
    completions = [GOOD, WRONG, NO_THINK, "<think>maybe D</think>\nI cannot tell", CHATTY]
    assert accuracy_reward(completions, answer=["D"] * 5) == [1.0, 0.0, 1.0, 0.0, 1.0]
    # The letter inside the thinking block does not count; option text matching does (via extract_choice).
    options = [["red", "blue", "green", "black"]]
    assert accuracy_reward(["<think>x</think>\nIt is black."], answer=["D"], options=options) == [1.0]


def test_consistency_judge_scales_scores_and_batches_one_call() -> None:
    judge = ScriptedJudge(lambda prompt: "4")
    reward = ConsistencyReward(judge, "judge-model")
    logged = []
    scores = reward([GOOD, WRONG, NO_THINK], log_metric=lambda k, v: logged.append((k, v)), **columns(3))
    assert scores == [0.8, 0.8, 0.0]  # no reasoning: 0 without asking the judge
    assert judge.calls == 1 and len(judge.requests) == 2
    prompt = judge.requests[0].messages[0]["content"]
    assert "high-pitched voice is Rachel" in prompt and "belongs to Rachel" in prompt
    assert judge.requests[0].prompt_version == "crossomni-judge-consistency.v1"
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
