"""CrossOmni scoring: per-task accuracy, the paper's single/cross/overall aggregates, groups and CIs.

Kept apart from the ``evaluate`` wrapper (``crossomni_acc.py``) so the evaluation runner, the
report and the training rewards share one implementation. Inputs are checked here, before any
work, so every malformed call is one ``ValueError`` naming the argument and the index.
"""

from __future__ import annotations

import math
import string
from collections.abc import Hashable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from functools import lru_cache
from itertools import repeat
from typing import Any

import numpy as np

from .answer_extraction import extract_choice
from .taxonomy import CROSS_TASKS, LETTERS, MODALITIES, SINGLE_TASKS, TASK_NAMES, TASKS, get_task

NAN = float("nan")
# bootstrap replicates drawn at once: bounds the index matrix to about this many cells
_CHUNK_CELLS = 4_000_000


def task_name(value: Any, index: int) -> str:
    """Canonical task name of a task-type value: a name, or its ``ClassLabel`` index in ``TASK_NAMES``."""
    if isinstance(value, bool) or not isinstance(value, str | int | np.integer):
        raise ValueError(f"task_types[{index}]: expected a task name or class index, got {value!r}")
    text = str(value).strip()
    if text.isascii() and text.isdigit():  # "０" or "٣" is no class index: only what ClassLabel writes
        position = int(text)
        if position < len(TASK_NAMES):
            return TASK_NAMES[position]
        raise ValueError(f"task_types[{index}]: class index {position} out of range 0..{len(TASK_NAMES) - 1}")
    try:
        return get_task(text).name
    except ValueError as err:
        raise ValueError(f"task_types[{index}]: {err}") from None


def reference_letter(value: Any, index: int, letters: Sequence[str] = LETTERS) -> str:
    """A reference answer as an upper-case letter in ``letters``; anything else is a ``ValueError``."""
    letter = value.strip().upper() if isinstance(value, str) else ""
    if letter not in letters:
        raise ValueError(f"references[{index}]: expected one of {', '.join(letters)}, got {value!r}")
    return letter


def as_column(values: Any, name: str) -> list[Any]:
    """``values`` as a list in positional order: a list or tuple, a numpy array, a pandas Series (its index is
    ignored: the n-th value is the n-th instance) or another sized, ordered collection.

    A set (or dict keys, or a mapping), whose order is not the instances' order and can change from run to
    run, a string, a table or an unsized iterator is a ``ValueError``.
    """
    if isinstance(values, list):
        return values
    if values is None or isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        raise ValueError(f"{name}: expected a list, got {type(values).__name__}")
    if isinstance(values, AbstractSet | Mapping):
        raise ValueError(
            f"{name}: expected an ordered list, got a {type(values).__name__} (its order is not the instances' order)"
        )
    tolist = getattr(values, "tolist", None)
    if callable(tolist):  # numpy arrays, pandas Series and Index: Python values in positional order
        listed = tolist()
        if not isinstance(listed, list):
            raise ValueError(f"{name}: expected a list, got a 0-dimensional {type(values).__name__}")
        return listed
    if getattr(values, "ndim", 1) != 1:
        raise ValueError(f"{name}: expected a list (one column), got a {type(values).__name__}")
    return list(values)


def _optional_column(values: Any, name: str) -> list[Any] | None:
    return None if values is None else as_column(values, name)


def check_seed(seed: Any) -> None:
    """A bootstrap seed is an integer >= 0 (numpy's generators take nothing else); else a ``ValueError``."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")


def _factorise(values: Sequence[Any], name: str) -> tuple[np.ndarray, list[Any]]:
    """Integer codes of ``values`` (first-seen order) and the distinct values; unhashable is a ``ValueError``."""
    try:
        distinct = list(dict.fromkeys(values))
    except TypeError:
        bad = next(i for i, v in enumerate(values) if not isinstance(v, Hashable))
        raise ValueError(f"{name}[{bad}]: expected a string, got {values[bad]!r}") from None
    index = {value: code for code, value in enumerate(distinct)}
    return np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values)), distinct


def _first_index(values: Sequence[Any], value: Any) -> int:
    """Where a distinct value (the first-seen object, as ``_factorise`` keeps it) occurs first."""
    return next(i for i, v in enumerate(values) if v is value)


def task_codes(task_types: Sequence[Any]) -> np.ndarray:
    """Each instance's position in ``TASK_NAMES``; the first bad value is a ``ValueError`` naming its index."""
    task_types = as_column(task_types, "task_types")
    codes, distinct = _factorise(task_types, "task_types")
    if any(isinstance(v, int | np.integer) for v in distinct):  # True == 1 as a dict key: find bools by type
        flag = next((i for i, v in enumerate(task_types) if isinstance(v, bool | np.bool_)), None)
        if flag is not None:
            task_name(task_types[flag], flag)
    positions = [TASK_NAMES.index(task_name(v, _first_index(task_types, v))) for v in distinct]
    return np.asarray(positions, dtype=np.int64)[codes]


def reference_codes(references: Sequence[Any], letters: Sequence[str] = LETTERS) -> np.ndarray:
    """Each reference's position in ``letters``; the first bad value is a ``ValueError`` naming its index."""
    references = as_column(references, "references")
    codes, distinct = _factorise(references, "references")
    positions = [letters.index(reference_letter(v, _first_index(references, v), letters)) for v in distinct]
    return np.asarray(positions, dtype=np.int64)[codes]


@lru_cache(maxsize=32)
def bare_letters(letters: str) -> dict[str, str]:
    """Stripped responses that are only a choice letter ("B", "b.", "(c)", "[D]:") and the letter they give.

    Each entry is what the reader itself returns for that response; looking it up skips the regex reader
    for the most common response (a test checks both paths agree, options given or not, on a mixed input).
    """
    table = {}
    for letter in letters:
        for written in (letter, letter.lower()):
            for opening in ("", "(", "["):
                for closing in ("", ")", "]"):
                    for stop in ("", ".", ":"):
                        form = f"{opening}{written}{closing}{stop}"
                        if extract_choice(form, None, tuple(letters)) == letter:
                            table[form] = letter
    return table


def options_column(options: Any) -> list[list[str] | None]:
    """``options`` checked and in one form: per instance ``None`` or a list of option texts (strings), in
    positional order (an entry may be a list, a tuple or a numpy array); anything else is a ``ValueError``."""
    column = as_column(options, "options")
    normalised: list[list[str] | None] = []
    for i, texts in enumerate(column):
        if texts is None:
            normalised.append(None)
            continue
        try:
            texts = as_column(texts, f"options[{i}]")
        except ValueError:
            raise ValueError(f"options[{i}]: expected a list of option texts or None, got {texts!r}") from None
        for j, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"options[{i}][{j}]: expected an option text (a string), got {text!r}")
        normalised.append(texts)
    return normalised


def check_options(options: Any) -> None:
    """Each entry ``None`` or a list of option texts (strings); anything else is a ``ValueError``."""
    options_column(options)


def _strip(text: Any) -> str:
    return "" if text is None else text.strip()


def read_choices(
    predictions: Sequence[str | None],
    options: Sequence[Sequence[str] | None] | None = None,
    letters: Sequence[str] | None = LETTERS,
    fast: bool = True,
) -> list[str | None]:
    """The letter each prediction chooses (``None``: no readable answer, including a ``None`` prediction).

    ``letters=None`` lets the reader pick them per item (A–D, or one per option). With ``fast``, a bare
    letter is looked up instead of read by ``extract_choice``; the result is the same either way.
    """
    predictions = as_column(predictions, "predictions")
    if options is not None:
        options = options_column(options)
    kinds = set(map(type, predictions))
    if not all(issubclass(kind, str) or kind is type(None) for kind in kinds):
        bad = next(i for i, text in enumerate(predictions) if text is not None and not isinstance(text, str))
        raise ValueError(f"predictions[{bad}]: expected a string or None, got {predictions[bad]!r}")
    if letters is not None:
        table = bare_letters("".join(letters)) if fast else {}
        chosen = list(map(table.get, map(_strip if type(None) in kinds else str.strip, predictions)))
        read: dict[tuple[Any, ...], str | None] = {}  # the reader is a pure function: read each response once
        for i in [i for i, letter in enumerate(chosen) if letter is None]:
            item_options = options[i] if options is not None else None
            key = (predictions[i], tuple(item_options) if item_options else None)
            if key not in read:
                read[key] = extract_choice(predictions[i], item_options, letters)
            chosen[i] = read[key]
        return chosen
    chosen = []
    for i, text in enumerate(predictions):
        item_options = options[i] if options is not None else None
        item_letters = tuple(string.ascii_uppercase[: len(item_options)]) if item_options else LETTERS
        letter = bare_letters("".join(item_letters)).get(_strip(text)) if fast else None
        chosen.append(letter if letter is not None else extract_choice(text, item_options, item_letters))
    return chosen


def check_inputs(
    predictions: Sequence[Any],
    lengths: dict[str, int],
    confidence_level: float | None,
    n_bootstrap: int,
) -> None:
    """The shape and interval checks shared by ``score``, ``score_by_category`` and the ``evaluate`` module."""
    n = len(predictions)
    wrong = {name: size for name, size in lengths.items() if size != n}
    if wrong:
        raise ValueError(f"got {n} predictions but " + ", ".join(f"{size} {name}" for name, size in wrong.items()))
    if n == 0:
        raise ValueError("nothing to score: predictions is empty")
    if confidence_level is not None:
        if isinstance(confidence_level, bool) or not isinstance(confidence_level, int | float):
            raise ValueError(f"confidence_level must be a number in (0, 1) or None, got {confidence_level!r}")
        if not 0.0 < confidence_level < 1.0:
            raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int | np.integer) or n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be an integer >= 1, got {n_bootstrap!r}")


def _columns(**columns: Any) -> dict[str, list[Any] | None]:
    """Each given column as a positional list (``None`` stays ``None``), checked by ``as_column``."""
    return {name: _optional_column(column, name) for name, column in columns.items()}


def _lengths_of(columns: dict[str, list[Any] | None]) -> dict[str, int]:
    return {name: len(column) for name, column in columns.items() if column is not None}


def _mean_or_nan(values: Sequence[float]) -> float:
    """Unweighted mean; NaN as soon as one part is NaN (a missing task never yields a partial mean)."""
    if not values or any(math.isnan(v) for v in values):
        return NAN
    return float(sum(values) / len(values))


def aggregate(per_task: dict[str, float]) -> dict[str, float]:
    """The paper's task-level aggregates: ``single``, ``cross`` and the fixed-source/target groups.

    All are unweighted means of task accuracies, NaN when any task they need is NaN.
    """
    result = {
        "single": _mean_or_nan([per_task[name] for name in SINGLE_TASKS]),
        "cross": _mean_or_nan([per_task[name] for name in CROSS_TASKS]),
    }
    for end in ("source", "target"):
        for modality in MODALITIES:
            tasks = [name for name in CROSS_TASKS if getattr(TASKS[name], end) == modality]
            result[f"fixed_{end}_{modality}"] = _mean_or_nan([per_task[name] for name in tasks])
    return result


def _binomial_percentiles(n: int, hits: int, quantiles: Sequence[float]) -> list[float]:
    """Exact quantiles of Binomial(n, hits/n)/n: the percentile bootstrap's limit when items are independent."""
    p = hits / n
    if hits in (0, n):
        return [p for _ in quantiles]
    spread = math.sqrt(n * p * (1 - p))
    low, high = max(0, int(n * p - 12 * spread - 12)), min(n, int(n * p + 12 * spread + 12))
    ks = np.arange(low, high + 1)
    log_choose = np.array([math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) for k in ks.tolist()])
    log_pmf = log_choose + ks * math.log(p) + (n - ks) * math.log1p(-p)
    cdf = np.cumsum(np.exp(log_pmf))  # the mass outside the window is far below any float step
    return [float(ks[min(np.searchsorted(cdf, q, side="left"), len(ks) - 1)] / n) for q in quantiles]


def _replicates(hits: np.ndarray, sizes: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Micro accuracy of ``n_bootstrap`` resamples of the clusters (with replacement), chunk by chunk.

    Clusters with equal (hits, size) are interchangeable, so a resample is fully described by how many
    draws fall on each such kind: a multinomial draw. When kinds are nearly as many as clusters, the
    clusters themselves are drawn instead, a bounded block of replicates at a time.
    """
    clusters = len(sizes)
    kinds, counts = np.unique(np.stack([hits, sizes]), axis=1, return_counts=True)
    replicates = np.empty(n_bootstrap)
    use_kinds = 4 * kinds.shape[1] < clusters
    width = kinds.shape[1] if use_kinds else clusters
    step = max(1, _CHUNK_CELLS // width)
    for start in range(0, n_bootstrap, step):
        block = min(step, n_bootstrap - start)
        if use_kinds:
            draws = rng.multinomial(clusters, counts / clusters, size=block)
            replicates[start : start + block] = (draws @ kinds[0]) / (draws @ kinds[1])
        else:
            picks = rng.integers(0, clusters, size=(block, clusters))
            replicates[start : start + block] = hits[picks].sum(axis=1) / sizes[picks].sum(axis=1)
    return replicates


def bootstrap_interval(
    correct: np.ndarray, cluster_codes: np.ndarray | None, confidence_level: float, n_bootstrap: int, seed: int
) -> tuple[float, float]:
    """Percentile interval of micro accuracy, resampling whole clusters (clips) with replacement.

    Where every item is its own cluster (no clip ids, or all distinct) the interval is exact: the
    quantiles of the binomial distribution the bootstrap would approach, with no replicates drawn.
    With a single cluster there is nothing to resample: ``(nan, nan)``.
    """
    alpha = (1.0 - confidence_level) / 2.0
    sizes = np.bincount(cluster_codes) if cluster_codes is not None else None
    if len(correct) < 2 or (sizes is not None and len(sizes) < 2):
        return NAN, NAN  # resampling a single clip (or item) says nothing about the spread
    if sizes is None or sizes.max() == 1:
        low, high = _binomial_percentiles(len(correct), int(correct.sum()), [alpha, 1.0 - alpha])
        return low, high
    hits = np.bincount(cluster_codes, weights=correct).astype(np.int64)
    replicates = _replicates(hits, sizes, n_bootstrap, np.random.default_rng(seed))
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    return float(low), float(high)


_GROUPS: dict[str, tuple[str, ...]] = {"single": SINGLE_TASKS, "cross": CROSS_TASKS} | {
    f"fixed_{end}_{m}": tuple(t for t in CROSS_TASKS if getattr(TASKS[t], end) == m)
    for end in ("source", "target")
    for m in MODALITIES
}


def _aggregate_columns(per_task: np.ndarray) -> dict[str, np.ndarray]:
    """``aggregate`` over columns of task accuracies (one row per replicate): NaN where a part is NaN."""
    column = {name: per_task[:, i] for i, name in enumerate(TASK_NAMES)}
    return {key: np.mean([column[t] for t in tasks], axis=0) for key, tasks in _GROUPS.items()}


def task_intervals(
    correct: Sequence[bool],
    task_types: Sequence[str | int],
    clip_ids: Sequence[str] | None = None,
    confidence_level: float = 0.95,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile cluster-bootstrap intervals of every task accuracy and every aggregate of ``score``.

    Whole clips are resampled and each replicate's tasks, single, cross and fixed groups recomputed
    the metric's way; a replicate that happens to hold no item of a task is left out of that task's
    interval (and of the aggregates needing it). A figure without items, or with all of them in one clip,
    gets ``(nan, nan)``.
    """
    correct = as_column(correct, "correct")
    columns = _columns(task_types=task_types, clip_ids=clip_ids)
    task_types, clip_ids = columns["task_types"], columns["clip_ids"]
    check_inputs(correct, _lengths_of(columns), confidence_level, n_bootstrap)
    check_seed(seed)
    hit = np.asarray(correct, dtype=bool)
    tasks = task_codes(task_types)
    clusters = cluster_codes(clip_ids) if clip_ids is not None else np.arange(len(hit))
    width = len(TASK_NAMES)
    m = int(clusters.max()) + 1
    cells = clusters * width + tasks
    hits = np.bincount(cells, weights=hit, minlength=m * width).reshape(m, width)
    counts = np.bincount(cells, minlength=m * width).reshape(m, width).astype(float)
    rng = np.random.default_rng(seed)
    rows = []
    step = max(1, _CHUNK_CELLS // (m * width))
    for start in range(0, n_bootstrap, step):
        picks = rng.integers(0, m, size=(min(step, n_bootstrap - start), m))
        with np.errstate(invalid="ignore", divide="ignore"):
            rows.append(hits[picks].sum(axis=1) / counts[picks].sum(axis=1))
    per_task = np.concatenate(rows)
    columns = {name: per_task[:, i] for i, name in enumerate(TASK_NAMES)} | _aggregate_columns(per_task)
    alpha = (1.0 - confidence_level) / 2.0
    result = {}
    parts = {name: [i] for i, name in enumerate(TASK_NAMES)} | {
        key: [TASK_NAMES.index(t) for t in tasks] for key, tasks in _GROUPS.items()
    }
    for key, values in columns.items():
        clips_seen = int((counts[:, parts[key]].sum(axis=1) > 0).sum())
        kept = values[~np.isnan(values)] if clips_seen >= 2 else values[:0]  # one clip: no spread to resample
        low, high = np.quantile(kept, [alpha, 1.0 - alpha]) if len(kept) else (NAN, NAN)
        result[key] = (float(low), float(high))
    return result


def cluster_codes(clip_ids: Sequence[Any] | None) -> np.ndarray | None:
    """Each instance's cluster (clip) as an integer code; a missing or unhashable id is a ``ValueError``."""
    if clip_ids is None:
        return None
    clip_ids = as_column(clip_ids, "clip_ids")
    missing = next((i for i, clip in enumerate(clip_ids) if clip is None), None)
    if missing is not None:
        raise ValueError(f"clip_ids[{missing}]: missing clip id (None)")
    return _factorise(clip_ids, "clip_ids")[0]


def _parse_summary(chosen: Sequence[str | None], n: int) -> dict[str, float | int]:
    failures = chosen.count(None)
    return {"parse_failures": failures, "parse_failure_rate": failures / n}


def score(
    predictions: Sequence[str | None],
    references: Sequence[str],
    task_types: Sequence[str | int],
    clip_ids: Sequence[str] | None = None,
    options: Sequence[Sequence[str] | None] | None = None,
    confidence_level: float | None = 0.95,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, float | int]:
    """Score CrossOmni predictions; see ``crossomni_acc._KWARGS_DESCRIPTION`` for the returned keys."""
    predictions = as_column(predictions, "predictions")
    columns = _columns(references=references, task_types=task_types, clip_ids=clip_ids, options=options)
    references, task_types, clip_ids = columns["references"], columns["task_types"], columns["clip_ids"]
    check_inputs(predictions, _lengths_of(columns), confidence_level, n_bootstrap)
    check_seed(seed)
    n = len(predictions)
    if options is not None:
        options = options_column(options)
    tasks = task_codes(task_types)
    gold = reference_codes(references)
    clusters = cluster_codes(clip_ids)
    chosen = read_choices(predictions, options, LETTERS)
    lookup = {letter: i for i, letter in enumerate(LETTERS)}
    chosen_codes = np.fromiter(map(lookup.get, chosen, repeat(-1)), dtype=np.int64, count=n)
    correct = chosen_codes == gold

    counts = np.bincount(tasks, minlength=len(TASK_NAMES))
    hits = np.bincount(tasks, weights=correct, minlength=len(TASK_NAMES))
    per_task = {name: float(hits[i] / counts[i]) if counts[i] else NAN for i, name in enumerate(TASK_NAMES)}
    groups = aggregate(per_task)
    result: dict[str, float | int] = {
        "overall": float(correct.mean()),
        "single": groups.pop("single"),
        "cross": groups.pop("cross"),
        **per_task,
        **groups,
    }
    result["count"] = n
    result.update({f"count_{name}": int(counts[i]) for i, name in enumerate(TASK_NAMES)})
    result.update(_parse_summary(chosen, n))
    if confidence_level is not None:
        low, high = bootstrap_interval(correct, clusters, confidence_level, n_bootstrap, seed)
        result["ci_low_overall"], result["ci_high_overall"] = low, high
    return result


def score_by_category(
    predictions: Sequence[str | None],
    references: Sequence[str],
    categories: Sequence[str],
    options: Sequence[Sequence[str]] | None = None,
    clip_ids: Sequence[str] | None = None,
    confidence_level: float | None = 0.95,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, float | int]:
    """Accuracy of any multiple-choice set: ``overall`` plus ``acc_<category>``/``count_<category>``.

    For the generic omni MCQ adapter (Daily-Omni, WorldSense, AVUT, ...); same extraction and
    bootstrap as ``score``. References may use more letters than A–D when ``options`` say so.
    """
    predictions = as_column(predictions, "predictions")
    columns = _columns(references=references, categories=categories, options=options, clip_ids=clip_ids)
    references, categories, clip_ids = columns["references"], columns["categories"], columns["clip_ids"]
    check_inputs(predictions, _lengths_of(columns), confidence_level, n_bootstrap)
    check_seed(seed)
    n = len(predictions)
    if options is not None:
        options = options_column(options)
    chosen = read_choices(predictions, options, letters=None)
    gold = [value.strip().upper() if isinstance(value, str) else None for value in references]
    bad = next((i for i, letter in enumerate(gold) if not letter), None)
    if bad is not None:
        raise ValueError(f"references[{bad}]: expected a choice letter, got {references[bad]!r}")
    correct = np.fromiter((c == r for c, r in zip(chosen, gold, strict=True)), dtype=bool, count=n)
    codes, names = _factorise([str(c) for c in categories], "categories")
    counts = np.bincount(codes, minlength=len(names))
    hits = np.bincount(codes, weights=correct, minlength=len(names))
    result: dict[str, float | int] = {"overall": float(correct.mean()), "count": n}
    for i, category in sorted(enumerate(names), key=lambda pair: pair[1]):
        result[f"acc_{category}"] = float(hits[i] / counts[i])
        result[f"count_{category}"] = int(counts[i])
    result.update(_parse_summary(chosen, n))
    if confidence_level is not None:
        clusters = cluster_codes(clip_ids)
        result["ci_low_overall"], result["ci_high_overall"] = bootstrap_interval(
            correct, clusters, confidence_level, n_bootstrap, seed
        )
    return result
