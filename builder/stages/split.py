"""Stage 9, split: train/test by episode (no clip or episode in both), reproducible from a seed,
with optional target proportions of task types per split (kept by seeded sampling)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from builder.config import BuildConfig
from builder.records import Instance
from builder.stage import Outputs, reject
from builder.stages.common import stable_hash

UNIT = 2**64


def assign_episodes(episodes: Iterable[str], test_fraction: float, seed: int) -> dict[str, str]:
    """Rank episodes by a seeded hash; the first ``round(fraction * n)`` go to test (at least one
    of each split when there are two or more episodes and the fraction is strictly between 0 and 1)."""
    ranked = sorted(set(episodes), key=lambda e: (stable_hash(seed, "split", e), e))
    n_test = round(test_fraction * len(ranked))
    if len(ranked) >= 2 and 0 < test_fraction < 1:
        n_test = min(max(n_test, 1), len(ranked) - 1)
    return {episode: "test" if i < n_test else "train" for i, episode in enumerate(ranked)}


def keep_rates(counts: Counter[tuple[str, str]], proportions: dict[str, float] | None) -> dict[tuple[str, str], float]:
    """Per (split, task) keep probability so kept counts follow ``proportions`` as closely as the data allow."""
    if not proportions:
        return {key: 1.0 for key in counts}
    rates: dict[tuple[str, str], float] = {}
    for split in {s for s, _ in counts}:
        present = {t: c for (s, t), c in counts.items() if s == split}
        weights = {t: proportions.get(t, 0.0) for t in present}
        if not any(weights.values()):
            rates.update({(split, t): 0.0 for t in present})
            continue
        scale = min(c / weights[t] for t, c in present.items() if weights[t] > 0)
        rates.update({(split, t): min(1.0, scale * weights[t] / c) for t, c in present.items()})
    return rates


class SplitStage:
    name = "split"
    unit = "instance"

    def __init__(self, config: BuildConfig, instances: Iterable[dict[str, Any]], episode_of: dict[str, str]) -> None:
        """``instances``: one pass over the verified instances (to count them); ``episode_of``: clip -> episode."""
        self.config = config
        self.episode_of = episode_of
        self.split_of = assign_episodes(episode_of.values(), config.test_fraction, config.seed)
        counts: Counter[tuple[str, str]] = Counter()
        for record in instances:
            counts[(self.split_of[episode_of[record["clip_id"]]], record["task_type"])] += 1
        self.rates = keep_rates(counts, config.task_proportions)

    def process(self, item: dict[str, Any]) -> Outputs:
        instance = Instance.model_validate(item)
        split = self.split_of[self.episode_of[instance.clip_id]]
        rate = self.rates.get((split, instance.task_type), 1.0)
        if rate < 1.0 and stable_hash(self.config.seed, "keep", instance.id) / UNIT >= rate:
            return [], [
                reject(
                    instance.id,
                    "task-proportion",
                    f"{split}/{instance.task_type} kept at rate {rate:.3f}",
                    dropped=True,
                )
            ]
        instance.split = split
        return [instance.model_dump()], []
