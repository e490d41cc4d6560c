"""The learned blind probe of the shortcut audit: text-only models fitted on the train split and
scored on the test split, the hypothesis-only baseline of a benchmark meant to be trained on.

Each option of a question is one row: its words and string, its letter, the task, how it relates
to the biography (the entry it is written in and that entry's words) and to the question, its
length among the four, and how often it (and its entry) occurs across its split. A model scores
the rows; the probe picks the best-scored option of each question. A linear model (logistic
regression over sparse features) and a tree model (gradient-boosted trees over the same features,
frequent ones only) are fitted; the audit reports each and gates on the higher. Features are the
release's text only — biography, question, options, task type — never media, ids, referents or
rationales. Intervals are 95% bootstrap intervals over clips (a clip's questions share a text)."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import MaxAbsScaler
from threadpoolctl import threadpool_limits

from crossomni import LETTERS
from evaluation.baselines import written_in

Row = Mapping[str, Any]
PROBES = ("linear", "tree")
MODELS = {"linear": "logistic regression", "tree": "gradient-boosted trees"}
FEATURES = (
    "each option's words and string, letter and task; the biography entry it is written in and that "
    "entry's words; its overlap with the question; its length among the four; how often it and its "
    "entry occur across its split, and in the other questions of its clip (never the clip's media, ids, "
    "referents or rationales)"
)
BOOTSTRAP_SAMPLES = 1000
TREE_FEATURES = 256  # the tree model sees the train rows' most frequent features (at least 2% of rows)
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _norm(text: str) -> str:
    return " ".join(_words(text))


def _entries(biography: str) -> list[str]:
    return [line for line in biography.splitlines() if line.strip()]


@dataclass(frozen=True)
class SplitCounts:
    """How often strings occur across one split (what a reader of the whole split can count)."""

    options: Counter[str]  # questions an option string is offered in
    biographies: Counter[str]  # distinct biographies a string (option or entry) is written in
    names: Counter[str]  # distinct biographies listing an entry name
    in_clip: dict[str, Counter[str]]  # per clip: questions an option string is offered in

    @classmethod
    def of(cls, rows: Sequence[Row]) -> SplitCounts:
        options: Counter[str] = Counter()
        in_clip: dict[str, Counter[str]] = {}
        written: set[tuple[str, str]] = set()  # (biography, option written in it)
        for row in rows:
            offered = {_norm(o) for o in row["options"]}
            options.update(offered)
            in_clip.setdefault(row["clip_id"], Counter()).update(offered)
            written |= {(row["biography"], _norm(o)) for o in row["options"] if written_in(o, row["biography"])}
        lines: Counter[str] = Counter()
        names: Counter[str] = Counter()
        for bio in {row["biography"] for row in rows}:
            entries = _entries(bio)
            lines.update({_norm(e) for e in entries})
            names.update({_norm(e.partition(":")[0]) for e in entries})
        return cls(options, Counter(option for _, option in written) + lines, names, in_clip)


def option_features(row: Row, counts: SplitCounts) -> list[dict[str, float]]:
    """One feature dict per option of ``row`` (text only)."""
    task, options, bio, question = row["task_type"], list(row["options"]), row["biography"], row["question"]
    q_words, b_words = set(_words(question)), set(_words(bio))
    lengths = [len(o) for o in options]
    mean_length = sum(lengths) / len(lengths)
    by_length = sorted(range(len(options)), key=lambda i: lengths[i])
    entries = _entries(bio)
    frequencies = [counts.options[_norm(o)] for o in options]
    # the clip's other questions: a value offered in them is a clip person's or a lent decoy's
    in_clip = [counts.in_clip[row["clip_id"]][_norm(o)] - 1 for o in options]
    out = []
    for i, option in enumerate(options):
        letter, norm, words = LETTERS[i], _norm(option), _words(option)
        f: dict[str, float] = {f"letter={letter}": 1.0, f"task={task}|letter={letter}": 1.0}
        f[f"task={task}|option={norm}"] = 1.0
        f[f"task={task}|ends={option.strip()[-1:]}"] = 1.0  # punctuation: what words do not show
        for word in set(words):
            f[f"task={task}|word={word}"] = 1.0
        for pair in itertools.pairwise(words):
            f[f"task={task}|bigram={' '.join(pair)}"] = 1.0
        where = [k for k, entry in enumerate(entries) if written_in(option, entry)]
        f["in_biography"] = float(bool(where))
        f[f"task={task}|in_biography"] = float(bool(where))
        if where:
            entry = entries[where[0]]
            name = _norm(entry.partition(":")[0])
            f["entry_index"] = where[0] / max(1, len(entries) - 1)
            f["entry_frequency"] = float(counts.biographies[_norm(entry)])
            f["name_frequency"] = float(counts.names[name])
            f[f"task={task}|entry_name={name}"] = 1.0
            for word in set(_words(entry)) - set(words):
                f[f"task={task}|entry_word={word}"] = 1.0
        f["entries"] = float(len(entries))
        f["question_overlap"] = float(len(set(words) & q_words))
        f["biography_overlap"] = len(set(words) & b_words) / max(1, len(set(words)))
        f["length"] = float(lengths[i])
        f["length_vs_mean"] = lengths[i] - mean_length
        f["length_rank"] = float(by_length.index(i))
        f["option_frequency"] = float(counts.options[norm])
        f["option_in_biographies"] = float(counts.biographies[norm])
        f["option_frequency_rank"] = float(sorted(frequencies).index(frequencies[i]))
        f["clip_option_frequency"] = float(in_clip[i])
        f["clip_option_frequency_rank"] = float(sorted(in_clip).index(in_clip[i]))
        f[f"task={task}|clip_option_frequency={min(in_clip[i], 4)}"] = 1.0
        out.append(f)
    return out


def _design(rows: Sequence[Row]) -> tuple[Iterator[dict[str, float]], np.ndarray]:
    """The options' feature dicts (made one at a time, as the vectorizer reads them: a split's dicts
    together would be the audit's largest object) and their labels (1: the answer)."""
    counts = SplitCounts.of(rows)
    labels = [letter == row["answer"] for row in rows for letter in LETTERS[: len(row["options"])]]
    features = (f for row in rows for f in option_features(row, counts))
    return features, np.asarray(labels, dtype=int)


class _Probe:
    """A fitted option scorer: picks the best-scored option of each question."""

    def __init__(self, kind: str, seed: int) -> None:
        self.kind, self.seed = kind, seed

    def fit(self, rows: Sequence[Row]) -> _Probe:
        features, labels = _design(rows)
        self.vectorizer = DictVectorizer()
        x = self.vectorizer.fit_transform(features)
        if self.kind == "linear":
            self.scaler = MaxAbsScaler().fit(x)
            self.model: Any = LogisticRegression(C=1.0, max_iter=1000)
            self.model.fit(self.scaler.transform(x), labels)
        else:
            present = np.asarray((x != 0).sum(axis=0)).ravel()
            frequent = np.flatnonzero(present >= max(5, 0.02 * x.shape[0]))
            self.columns = frequent[np.argsort(-present[frequent], kind="stable")][:TREE_FEATURES]
            self.model = HistGradientBoostingClassifier(
                max_iter=100, learning_rate=0.1, max_leaf_nodes=15, l2_regularization=1.0, random_state=self.seed
            )
            self.model.fit(x[:, self.columns].toarray(), labels)
        return self

    def letters(self, rows: Sequence[Row]) -> list[str]:
        features, _ = _design(rows)
        x = self.vectorizer.transform(features)
        x = self.scaler.transform(x) if self.kind == "linear" else x[:, self.columns].toarray()
        scores = self.model.predict_proba(x)[:, 1]
        picks, start = [], 0
        for row in rows:
            n = len(row["options"])
            picks.append(LETTERS[int(np.argmax(scores[start : start + n]))])
            start += n
        return picks


def fit_probe(kind: str, train: Sequence[Row], seed: int = 0) -> Callable[[Sequence[Row]], list[str]]:
    """A probe of ``kind`` (``linear`` or ``tree``) fitted on ``train``: rows -> picked letters."""
    if kind not in PROBES:
        raise ValueError(f"unknown probe {kind!r}; expected one of {', '.join(PROBES)}")
    with threadpool_limits(1):  # one thread: several builds share a machine's cores, and these fits are small
        probe = _Probe(kind, seed).fit(train)

    def letters(rows: Sequence[Row]) -> list[str]:
        with threadpool_limits(1):
            return probe.letters(rows)

    return letters


def clip_bootstrap(
    hits: Sequence[bool], clusters: Sequence[str], groups: Mapping[str, Sequence[int]], seed: int = 0
) -> dict[str, tuple[float, float]]:
    """95% intervals of the accuracy of each group of row indices, resampling clips (``clusters``) with
    replacement: a clip's questions share their text, so they are not independent draws."""
    names = sorted(set(clusters))
    index = {name: k for k, name in enumerate(names)}
    hit_table = np.zeros((len(names), len(groups)))
    n_table = np.zeros((len(names), len(groups)))
    for g, members in enumerate(groups.values()):
        for i in members:
            hit_table[index[clusters[i]], g] += hits[i]
            n_table[index[clusters[i]], g] += 1
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), size=(BOOTSTRAP_SAMPLES, len(names)))
    weights = np.zeros((BOOTSTRAP_SAMPLES, len(names)))
    np.add.at(weights, (np.arange(BOOTSTRAP_SAMPLES)[:, None], draws), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = (weights @ hit_table) / (weights @ n_table)
    out = {}
    for g, name in enumerate(groups):
        values = accuracy[:, g][~np.isnan(accuracy[:, g])]
        low, high = np.percentile(values, [2.5, 97.5]) if len(values) else (float("nan"), float("nan"))
        out[name] = (round(float(low), 4), round(float(high), 4))
    return out


def probe_accuracy(
    letters: Sequence[str], rows: Sequence[Row], groups: Mapping[str, Sequence[int]], seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Accuracy with its clip-bootstrap interval per group of row indices."""
    hits = [letter == row["answer"] for letter, row in zip(letters, rows, strict=True)]
    intervals = clip_bootstrap(hits, [row["clip_id"] for row in rows], groups, seed)
    return {
        name: {
            "n": len(members),
            "accuracy": round(sum(hits[i] for i in members) / len(members), 4) if members else None,
            "interval": list(intervals[name]) if members else None,
        }
        for name, members in groups.items()
    }


def learned_probe(
    train: Iterable[Row], test: Iterable[Row], group_of: Callable[[str], str | None], seed: int = 0
) -> dict[str, Any]:
    """Fit each probe on ``train`` and score ``test``: ``{"train": n, "test": n, "probes": {kind:
    {"per_task": {task: {n, accuracy, interval}}, "groups": {group: ...}}}}``; ``group_of(task)`` is the
    group a task's rows also count in (``None``: none)."""
    train, test = list(train), list(test)
    tasks: dict[str, list[int]] = {}
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(test):
        tasks.setdefault(row["task_type"], []).append(i)
        group = group_of(row["task_type"])
        if group is not None:
            groups.setdefault(group, []).append(i)
    result: dict[str, Any] = {
        "train": len(train),
        "test": len(test),
        "models": dict(MODELS),
        "features": FEATURES,
        "probes": {},
    }
    if not train or not test:
        return result
    for kind in PROBES:
        letters = fit_probe(kind, train, seed)(test)
        result["probes"][kind] = {
            "per_task": probe_accuracy(letters, test, tasks, seed),
            "groups": probe_accuracy(letters, test, groups, seed),
        }
    return result
