"""GRPO rewards: format, accuracy, and two LLM-judge thinking rewards (contextual consistency, logical coherence).

Every reward has trl's signature ``(completions, **columns) -> list[float | None]``. Scores are
scaled to ``[0, 1]``; their weights live in the recipe (``reward_weights``, accuracy dominant).
A judge reward returns ``None`` for a completion whose judge call failed or whose reply did not
parse. trl 1.16 would sum that NaN as a 0, so ``OmniGRPOTrainer`` replaces it, after the rewards of
all processes are gathered, by the mean of that judge's scores in the completion's group
(``fill_failed_judges``): with trl's ``sum_then_normalize`` and ``scale_rewards: none`` (the recipe),
the advantage is the sum of each reward's weighted deviation from its group mean, so the failed
judge adds exactly nothing to that completion's advantage.

>>> completion = [{"role": "assistant", "content": "<think>\\nThe high voice is Rachel.\\n</think>\\nD"}]
>>> format_reward([completion])
[1.0]
>>> accuracy_reward([completion], answer=["D"])
[1.0]
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import crossomni
from evaluation.crossomni_acc.answer_extraction import strict_choice

logger = logging.getLogger(__name__)

_FORMAT = re.compile(
    r"\A\s*<think>(?P<reasoning>(?:(?!<think>|</think>).)+)</think>\s*(?P<letter>[A-D])\s*\Z", re.DOTALL
)
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


def completion_text(completion: Any) -> str:
    """The text of a trl completion (a string, or a conversation whose last message is the answer)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        content = completion[-1].get("content", "")
        if isinstance(content, list):
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return str(content)
    return ""


def reasoning_of(text: str) -> str:
    """The reasoning in the first ``<think>`` block ('' when there is none).

    >>> reasoning_of("<think> a </think> B")
    'a'
    >>> reasoning_of("B")
    ''
    """
    match = _THINK.search(text)
    return match.group(1).strip() if match else ""


def format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 for a non-empty ``<think>…</think>`` block followed by one letter A–D and nothing else, else 0.0.

    >>> format_reward(["<think>Rachel speaks.</think>\\nB", "<think>x</think> B because", "B", "<think> </think>A"])
    [1.0, 0.0, 0.0, 0.0]
    """
    rewards = []
    for completion in completions:
        match = _FORMAT.match(completion_text(completion))
        rewards.append(1.0 if match and match.group("reasoning").strip() else 0.0)
    return rewards


def accuracy_reward(completions: Sequence[Any], answer: Sequence[str], **kwargs: Any) -> list[float]:
    """1.0 when the completion ends in the prompt's form, ``</think>`` then one letter, and it is the answer.

    Anything else earns nothing, however readable ("The answer is D." included): the strict form is
    what the training prompt asks for, and a lenient reader would also pay for hedges and negations.

    >>> accuracy_reward(["<think>...</think>\\nC", "<think>it is C</think>\\nA", "<think>r</think>\\nThe answer is C."],
    ...                 answer=["C", "C", "C"])
    [1.0, 0.0, 0.0]
    """
    rewards = []
    for i, completion in enumerate(completions):
        choice = strict_choice(completion_text(completion))
        rewards.append(1.0 if choice is not None and choice == str(answer[i]).strip().upper() else 0.0)
    return rewards


_BARE_INTEGER = re.compile(r"\s*([0-9]+)\s*")
_FENCE = re.compile(r"\s*```(?:json)?\s*(.*?)\s*```\s*", re.DOTALL)


def parse_score(text: str | None, levels: Sequence[int]) -> int | None:
    """The judge's score when the reply is only the number, or a JSON object ``{"score": n}``; else ``None``.

    The score must be an integer and one of the rubric's ``levels``; prose around it, a decimal, an
    exponent or a level the rubric does not have is a failure, never a guess.

    >>> parse_score("4", range(6)), parse_score('{"score": 3}', range(4)), parse_score(" 2\\n", range(6))
    (4, 3, 2)
    >>> [parse_score(t, range(6)) for t in ("On a scale of 0 to 5, I give it a 4.", "1e3", "4.5", "7", "")]
    [None, None, None, None, None]
    >>> parse_score("3", (0, 1, 2, 4, 5)) is None
    True
    """
    if text is None:
        return None
    bare = _BARE_INTEGER.fullmatch(text)
    if bare:
        score = int(bare.group(1))
    else:
        fenced = _FENCE.fullmatch(text)
        try:
            data = json.loads(fenced.group(1) if fenced else text)
        except ValueError:
            return None
        value = data.get("score") if isinstance(data, dict) else None
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        score = value
    return score if score in levels else None


def fill_failed_judges(rewards_per_func: Any, num_generations: int, judge_columns: Sequence[int]) -> Any:
    """Replace each failed (NaN) judge score by the mean of that judge's scores in the same group.

    ``rewards_per_func`` is trl's gathered ``(prompts x generations, functions)`` tensor, groups of
    ``num_generations`` consecutive rows. The filled value sits at the group mean, so under trl's
    ``sum_then_normalize`` the failed score's term in the advantage (its weighted deviation from the
    group mean) is zero, as if the judge had not scored that completion. A group in which the judge
    failed every time keeps its NaNs: trl's ``nansum`` gives all of them the same 0, which cancels.
    Returns a new tensor; the input is left as it is.
    """
    import torch

    filled = rewards_per_func.clone()
    if not judge_columns or filled.numel() == 0:
        return filled
    groups = filled.view(-1, num_generations, filled.size(1))
    for column in judge_columns:
        scores = groups[:, :, column]
        failed = torch.isnan(scores)
        means = torch.nanmean(scores, dim=1, keepdim=True).expand_as(scores)
        scores[failed] = means[failed]  # still NaN where the whole group failed
    return filled


MODALITY_EVIDENCE: dict[str, tuple[str, str]] = {
    "audio": ("audio track", "a voice, its qualities or what is said"),
    "vision": ("video frames", "appearance, clothing or position on screen"),
    "text": ("biographies", "a named entry and its facts"),
}


@dataclass
class JudgeStats:
    """Running counts of one judge reward (also logged to trl per batch)."""

    requested: int = 0
    failed: int = 0
    skipped: int = 0  # completions with no reasoning: scored 0 without a judge call
    errors: list[str] = field(default_factory=list)

    @property
    def failure_rate(self) -> float:
        return self.failed / self.requested if self.requested else 0.0


class JudgeReward:
    """A reward scored by an LLM judge through the model-call layer (batched: one ``generate`` per batch).

    A judge reply that errors or does not parse gives ``None`` for that completion (filled from its
    group by the trainer), is counted in ``stats`` and logged — never a silent 0.
    """

    template: str = ""
    prompt_version: str = ""
    levels: tuple[int, ...] = (0, 1)  # the rubric's scores; the reward is score / max(levels)
    fills_failures_in_group = True  # OmniGRPOTrainer fills a failed score from the group (fill_failed_judges)

    def __init__(self, backend: Any, model: str, sampling: dict[str, Any] | None = None) -> None:
        self.backend = backend
        self.model = model
        self.sampling = {"temperature": 0.0, "max_tokens": 8, **(sampling or {})}
        self.stats = JudgeStats()

    def judge_prompt(self, reasoning: str, index: int, columns: dict[str, Any]) -> str:
        raise NotImplementedError

    def __call__(
        self, completions: Sequence[Any], log_metric: Callable[[str, float], None] | None = None, **columns: Any
    ) -> list[float | None]:
        from model_calls import ModelRequest

        rewards: list[float | None] = [None] * len(completions)
        requests, positions = [], []
        for i, completion in enumerate(completions):
            reasoning = reasoning_of(completion_text(completion))
            if not reasoning:
                rewards[i] = 0.0
                self.stats.skipped += 1
                continue
            prompt = self.judge_prompt(reasoning, i, columns)
            requests.append(
                ModelRequest(
                    model=self.model,
                    messages=({"role": "user", "content": prompt},),
                    prompt_version=self.prompt_version,
                    sampling=self.sampling,
                    metadata={"id": columns.get("id", [None] * len(completions))[i]},
                )
            )
            positions.append(i)
        failed = 0
        if requests:
            responses = self.backend.generate(requests)
            if len(responses) != len(requests):
                raise RuntimeError(f"judge backend returned {len(responses)} responses for {len(requests)} requests")
            for i, response in zip(positions, responses, strict=True):
                score = parse_score(response.text, self.levels) if response.ok else None
                if score is None:
                    failed += 1
                    problem = response.error or f"unparseable reply {response.text!r}"
                    self.stats.errors.append(f"{columns.get('id', ['?'] * len(completions))[i]}: {problem}"[:300])
                else:
                    rewards[i] = score / max(self.levels)
        self.stats.requested += len(requests)
        self.stats.failed += failed
        if failed:
            logger.warning(
                "%s judge: %d of %d replies failed or did not parse (no reward for those); last: %s",
                self.__name__,
                failed,
                len(requests),
                self.stats.errors[-1],
            )
        if log_metric is not None and requests:
            log_metric(f"judge/{self.__name__}/failure_rate", failed / len(requests))
        return rewards


class ConsistencyReward(JudgeReward):
    """Contextual consistency: how much of the reference rationale the reasoning covers.

    The paper's Table 18 scale has the levels 0, 1, 2, 4 and 5 (no 3); the reward is score / 5.
    """

    __name__ = "consistency"
    template = "judge_consistency.v2.jinja"
    prompt_version = "crossomni-judge-consistency.v2"
    levels = (0, 1, 2, 4, 5)

    def judge_prompt(self, reasoning: str, index: int, columns: dict[str, Any]) -> str:
        from training.prompting import render

        return render(self.template, reference=columns["rationale"][index], candidate=reasoning)


class CoherenceReward(JudgeReward):
    """Logical coherence: one point per coreference step of the task type the reasoning takes (0–3 → [0, 1])."""

    __name__ = "coherence"
    template = "judge_coherence.v1.jinja"
    prompt_version = "crossomni-judge-coherence.v1"
    levels = (0, 1, 2, 3)

    def judge_prompt(self, reasoning: str, index: int, columns: dict[str, Any]) -> str:
        from training.prompting import render

        task = crossomni.get_task(columns["task_name"][index])
        source_name, source_evidence = MODALITY_EVIDENCE[task.source]
        target_name, target_evidence = MODALITY_EVIDENCE[task.target]
        return render(
            self.template,
            source_name=source_name,
            source_evidence=source_evidence,
            target_name=target_name,
            target_evidence=target_evidence,
            same_modality=not task.is_cross,
            question=columns["question"][index],
            reasoning=reasoning,
        )


REWARD_NAMES: tuple[str, ...] = ("format", "accuracy", "consistency", "coherence")
THINKING_REWARDS: tuple[str, ...] = ("consistency", "coherence")
# What each reward pays, as the functions above compute it (the adapter card quotes these).
REWARD_DEFINITIONS: dict[str, str] = {
    "format": "a non-empty `<think>…</think>` block, then one letter A–D and nothing else (0/1)",
    "accuracy": "that strict form (`</think>`, then one upper-case letter alone) *and* the right letter; "
    'a readable "The answer is D." earns nothing (0/1)',
    "consistency": "LLM judge: the reasoning covers the reference rationale (0, 1, 2, 4 or 5, scaled to 0–1; "
    "no reasoning: 0 without a call; a failed call: no reward)",
    "coherence": "LLM judge: locate in the source, re-identify in the target, answer from it (0–3, scaled to 0–1; "
    "no reasoning: 0 without a call; a failed call: no reward)",
}


def build_rewards(
    names: Sequence[str],
    judge: Callable[[], tuple[Any, str]] | None = None,
    judge_sampling: dict[str, Any] | None = None,
) -> list[Callable]:
    """Reward functions by name; ``judge()`` gives ``(backend, model)``, called only when a judge reward is asked."""
    unknown = [name for name in names if name not in REWARD_NAMES]
    if unknown:
        raise ValueError(f"unknown reward(s) {', '.join(unknown)}; expected names from {', '.join(REWARD_NAMES)}")
    backend_and_model = judge() if judge is not None and any(n in THINKING_REWARDS for n in names) else None
    rewards: list[Callable] = []
    for name in names:
        if name == "format":
            rewards.append(format_reward)
        elif name == "accuracy":
            rewards.append(accuracy_reward)
        else:
            if backend_and_model is None:
                raise ValueError(f"reward {name!r} needs a judge backend")
            cls = ConsistencyReward if name == "consistency" else CoherenceReward
            rewards.append(cls(*backend_and_model, sampling=judge_sampling))
    return rewards
