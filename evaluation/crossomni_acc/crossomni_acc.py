"""CrossOmni accuracy: per-task, single-modality, cross-modality and overall accuracy (arXiv 2604.05522)."""

from __future__ import annotations

import datasets
import evaluate
from datasets.utils.py_utils import temp_seed

# evaluate copies only the sibling modules this file imports directly, and it reads any comment on an
# import line as a download URL: keep the three imports here and comment-free. The folder imports nothing
# of this project (the taxonomy is held in taxonomy.py), so it loads where only evaluate is installed.
from .answer_extraction import extract_choice
from .scoring import (
    as_column,
    check_inputs,
    check_options,
    check_seed,
    cluster_codes,
    reference_codes,
    score,
    task_codes,
)
from .taxonomy import LETTERS, TASK_NAMES

__all__ = ["CrossomniAcc", "extract_choice"]

_CITATION = """\
@article{liu2026crossomni,
  title   = {Cross-Modal Coreference Alignment: Enabling Reliable Information Transfer in Omni-LLMs},
  author  = {Liu, Hongcheng and Wang, Yuhao and Chen, Zhe and Wang, Pingjie and Zhu, Zhiyuan and
             Hou, Yixuan and Wang, Yanfeng and Wang, Yu},
  journal = {arXiv preprint arXiv:2604.05522},
  year    = {2026}
}
"""

_DESCRIPTION = """\
Accuracy on CrossOmni, the cross-modal coreference benchmark: a model finds a person in a source
modality (audio, vision or text) and answers a four-option question from a target modality.
Predictions may be letters or raw model output in any of ten languages; the chosen letter is read with a
format-ranked extractor (reasoning blocks and model tokens removed, LaTeX and markdown unwrapped, only valid
letters, optional option-text matching), and a response that cannot be read counts as wrong and is reported
in `parse_failure_rate`.
As in the paper, `single` and `cross` are unweighted means of the task accuracies (3 and 6 tasks),
while `overall` is the accuracy over all instances, so it is not the mean of the nine tasks.
"""

_KWARGS_DESCRIPTION = """
Args:
    Columns may be lists, tuples, numpy arrays or pandas Series (read by position); sets and dicts are refused.
    predictions (`list` of `str`): the chosen letter ("A"-"D") or the model's raw answer text, one per instance.
        `None` (no output) counts as a parse failure, wherever it is.
    references (`list` of `str`): the correct letter of each instance, "A"-"D" (case and spaces ignored).
    task_types (`list` of `str`): each instance's task type, a name of `crossomni.TASK_NAMES` ("audio",
        "vision_to_text", ...) or its class index (the dataset's `task_type` ClassLabel value).
    clip_ids (`list` of `str`, *optional*): each instance's clip; the confidence interval then resamples whole
        clips (questions on one clip are not independent). Without it every instance is its own cluster.
    options (`list` of `list` of `str`, *optional*): the four option texts of each instance, so that an answer
        giving the option's text instead of its letter is still read.
    confidence_level (`float` or `None`, *optional*, defaults to 0.95): level of the bootstrap interval of
        `overall`; `None` leaves the `ci_*` keys out.
    n_bootstrap (`int`, *optional*, defaults to 1000): bootstrap replicates, at least 1 (none are drawn where every
        instance is its own cluster: that interval is exact).
    seed (`int`, *optional*, defaults to 0): seed of the bootstrap (an integer >= 0), so intervals are reproducible.

Returns:
    A flat dict; accuracies are fractions in [0, 1], NaN where they are undefined.
    overall (`float`): correct instances / all instances (micro).
    single (`float`): mean of the 3 single-modality task accuracies (audio, vision, text).
    cross (`float`): mean of the 6 cross-modality task accuracies.
    <task> (`float`): accuracy of each of the nine tasks, keyed by its `crossomni.TASK_NAMES` name.
    fixed_source_<m> (`float`), m in audio/vision/text: mean accuracy of the 2 cross tasks whose source is m
        (paper Fig. 3a groups); fixed_target_<m> (`float`): the same for the 2 cross tasks whose target is m.
    count (`int`), count_<task> (`int`): number of instances, in total and per task.
    parse_failures (`int`), parse_failure_rate (`float`): responses from which no letter could be read.
    ci_low_overall, ci_high_overall (`float`): percentile cluster-bootstrap interval of `overall`; exact (the
        binomial quantiles the bootstrap tends to) when every instance is its own cluster; NaN with one cluster.
    A task with no instances has accuracy NaN, and so has every aggregate that needs it (`single`,
    `cross`, its fixed-source/target groups): an aggregate is never a mean over the tasks that happen to exist.

Examples:

    Example 1-Unbalanced tasks: the macro single/cross means differ from the micro overall accuracy.
        >>> metric = evaluate.load("crossomni_acc")
        >>> tasks = ["audio", "vision", "text", "text", "text", "text", "audio_to_text", "audio_to_vision",
        ...          "text_to_audio", "text_to_vision", "vision_to_audio", "vision_to_text"]
        >>> references = ["A"] * 12
        >>> predictions = ["A", "B", "A", "A", "A", "A", "A", "A", "B", "B", "B", "A"]
        >>> results = metric.compute(predictions=predictions, references=references, task_types=tasks)
        >>> print({key: round(results[key], 4) for key in ("overall", "single", "cross", "text", "count_text")})
        {'overall': 0.6667, 'single': 0.6667, 'cross': 0.5, 'text': 1.0, 'count_text': 4}

    Example 2-Raw model output: letters are extracted, unreadable answers count as wrong and are counted.
        >>> metric = evaluate.load("crossomni_acc")
        >>> predictions = ["<think>The man in red is Joey.</think> The answer is (b).", "C. A pretty dress", "no idea"]
        >>> results = metric.compute(predictions=predictions, references=["B", "C", "A"],
        ...                          task_types=["vision_to_text", "vision", "audio"])
        >>> print(results["vision_to_text"], results["vision"], results["audio"], results["parse_failures"])
        1.0 1.0 0.0 1
        >>> print(round(results["parse_failure_rate"], 4), results["single"])
        0.3333 nan

    Example 3-Option text matching, and a clip-clustered 95% interval of overall accuracy.
        >>> metric = evaluate.load("crossomni_acc")
        >>> results = metric.compute(
        ...     predictions=["She is a pastry chef.", "D", "A", "B"],
        ...     references=["B", "D", "A", "C"],
        ...     task_types=["text", "audio", "vision", "vision"],
        ...     options=[["stage actor", "pastry chef", "nurse", "data analyst"], None, None, None],
        ...     clip_ids=["clip_1", "clip_1", "clip_2", "clip_2"],
        ... )
        >>> print(results["overall"], results["single"])
        0.75 0.8333333333333334
        >>> print(results["ci_low_overall"] <= results["overall"] <= results["ci_high_overall"])
        True
"""


def _normalised_batch(predictions, references, task_types) -> dict[str, list[str]]:
    """The feature columns checked and in the one declared format: strings, task names, ``None`` as ""."""
    predictions = as_column(predictions, "predictions")
    references = as_column(references, "references")
    task_types = as_column(task_types, "task_types")
    if len(references) != len(predictions) or len(task_types) != len(predictions):
        raise ValueError(
            f"got {len(predictions)} predictions but {len(references)} references and {len(task_types)} task_types"
        )
    bad = next((i for i, p in enumerate(predictions) if p is not None and not isinstance(p, str)), None)
    if bad is not None:
        raise ValueError(f"predictions[{bad}]: expected a string or None, got {predictions[bad]!r}")
    return {
        # an empty response reads as no answer, exactly like None: a parse failure
        "predictions": ["" if p is None else p for p in predictions],
        "references": [LETTERS[code] for code in reference_codes(references)],
        "task_types": [TASK_NAMES[code] for code in task_codes(task_types)],
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CrossomniAcc(evaluate.Metric):
    """Per-task, single, cross and overall accuracy on CrossOmni.

    Inputs are checked and normalised (task indices to names, ``None`` to "") before ``evaluate`` sees
    them, and the module declares one feature format: a bad call raises before any state changes, so
    it cannot leave the module unusable for the next one.
    """

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Value("string"),
                    "task_types": datasets.Value("string"),
                }
            ),
            reference_urls=["https://arxiv.org/abs/2604.05522"],
        )

    def add_batch(self, *, predictions=None, references=None, task_types=None, **kwargs):
        """Add a batch of predictions, references and task types (checked first)."""
        return super().add_batch(**_normalised_batch(predictions, references, task_types), **kwargs)

    def add(self, *, prediction=None, reference=None, task_types=None, **kwargs):
        """Add one prediction, reference and task type (checked first)."""
        batch = _normalised_batch([prediction], [reference], [task_types])
        return super().add(
            **{"prediction": batch["predictions"][0], "reference": batch["references"][0]},
            task_types=batch["task_types"][0],
            **kwargs,
        )

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Score the given (or added) predictions; see the arguments below."""
        # what add_batch does not see is checked here, before evaluate touches its cache
        given = predictions is not None
        if given:
            predictions = as_column(predictions, "predictions")
        optional = [name for name in ("clip_ids", "options") if kwargs.get(name) is not None]
        extra = {name: as_column(kwargs[name], name) for name in optional}
        kwargs.update(extra)
        lengths = {name: len(column) for name, column in extra.items()}
        check_inputs(
            predictions if given else [None],
            lengths if given else {},
            kwargs.get("confidence_level", 0.95),
            kwargs.get("n_bootstrap", 1000),
        )
        check_seed(kwargs.get("seed", 0))
        if "options" in extra:
            check_options(extra["options"])
        if "clip_ids" in extra:
            cluster_codes(extra["clip_ids"])
        if self.num_process == 1 and self.writer is None and given:
            # One process, nothing added before: evaluate would write the columns to an Arrow cache file
            # (a Python call per value) and read them back unchanged; score them as they are instead.
            batch = _normalised_batch(predictions, references, kwargs.get("task_types"))
            compute_kwargs = {name: value for name, value in kwargs.items() if name != "task_types"}
            with temp_seed(self.seed):
                return self._compute(**batch, **compute_kwargs)
        return super().compute(predictions=predictions, references=references, **kwargs)

    def _compute(
        self,
        predictions,
        references,
        task_types,
        clip_ids=None,
        options=None,
        confidence_level=0.95,
        n_bootstrap=1000,
        seed=0,
    ) -> dict[str, float | int]:
        return score(predictions, references, task_types, clip_ids, options, confidence_level, n_bootstrap, seed)
