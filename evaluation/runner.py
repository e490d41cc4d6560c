"""Run a model over CrossOmni (or any mapped MCQ set) and score it: resumable, batched, recorded.

Per item the run keeps its prompt id, the raw output, the extracted letter, whether it is right
and which modalities reached the model. A generation error is not scored: the item stays pending
(``errors.jsonl``) and the next run of the same command retries it; finished items are skipped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import crossomni
from evaluation.crossomni_acc.answer_extraction import extract_choice
from evaluation.crossomni_acc.scoring import score, score_by_category
from evaluation.inputs import InputConfig, ResolvedInputs, build_messages, resolve_inputs
from evaluation.items import Item, MCQColumns, PreflightError, crossomni_items, mcq_items
from evaluation.prompting import prompt_id, render_prompt
from evaluation.runlog import METRICS, RUN, RunLog, read_json, write_json
from model_calls import Backend, ModelRequest, ModelResponse, get_backend
from model_calls.adapters import adapter_fingerprint, adapter_summary, model_label
from model_calls.outputs import claim_output_dir
from model_calls.redaction import redact
from model_calls.sources import check_source

# Answer-only prompting needs a few tokens; reasoning prompts need room for the thinking.
DEFAULT_MAX_NEW_TOKENS = {"default": 64, "cot": 1024, "icl": 1024, "think": 1024}
# Backends that load a PEFT adapter on the base model themselves (``--adapter``).
ADAPTER_BACKENDS = ("transformers", "vllm")
# Items handed to one ``generate`` call by default. Backends that schedule their own batches (vLLM's
# continuous batching, the OpenAI backend's concurrent requests) want a full queue; the transformers
# backend pads one batch per call, so it gets ``--batch-size`` items.
DEFAULT_CHUNK_SIZE = 512
PADDED_BATCH_BACKENDS = ("transformers",)


class RunConflictError(ValueError):
    """The output folder holds a run made with different settings."""


class EvalConfigError(ValueError):
    """A run setting out of its range (the message names the option)."""


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class EvalConfig:
    """Everything that defines a run (the identity part must match to resume into the same folder)."""

    model: str
    out: str
    adapter: str | None = None  # PEFT (LoRA) adapter folder or Hub id loaded on ``model``
    dataset: str | None = None
    config: str | None = "all"
    split: str = "test"
    prompting: str | None = None  # None: the adapter's recorded template, else "default"
    prompt_version: str | None = None  # None: the adapter's, else evaluation.prompting.DEFAULT_VERSION
    backend: str = "transformers"
    batch_size: int = 4
    chunk_size: int | None = None  # items per backend call; None: see ``chunk_size_for``
    max_new_tokens: int | None = None
    temperature: float = 0.0
    seed: int = 0
    limit: int | None = None
    tvqa_root: str | None = None
    media_root: str | None = None
    inputs: str = "full"
    fps: float | None = None
    max_frames: int | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    system_prompt: str | None = None  # None: the adapter's, else the model family's; "": no system message
    input_preset: str | None = None  # model_calls/presets.yaml name; None: the adapter's, else the family's
    allow_input_mismatch: bool = False  # evaluate an adapter on inputs other than those it recorded
    backend_options: dict[str, Any] = field(default_factory=dict)
    cache: str | None = None
    mcq: MCQColumns | None = None
    confidence_level: float = 0.95
    overwrite: bool = False  # start afresh in an --out folder that holds a run with other settings

    resolved: ResolvedInputs | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.check_numbers()
        self.resolved = resolve_inputs(
            self.model,
            self.adapter,
            preset=self.input_preset,
            prompting=self.prompting,
            prompt_version=self.prompt_version,
            system_prompt=self.system_prompt,
            allow_mismatch=self.allow_input_mismatch,
            fps=self.fps,
            max_frames=self.max_frames,
            min_pixels=self.min_pixels,
            max_pixels=self.max_pixels,
        )
        self.prompting, self.prompt_version = self.resolved.prompting, self.resolved.prompt_version

    def check_numbers(self) -> None:
        """Refuse numbers no run can use (``EvalConfigError`` naming the option): counts below 1, a
        temperature or frame rate that is NaN, infinite or negative, a confidence level outside (0, 1)."""
        counts = {
            "--batch-size": self.batch_size,
            "--chunk-size": self.chunk_size,
            "--max-new-tokens": self.max_new_tokens,
            "--limit": self.limit,
            "--max-frames": self.max_frames,
            "--min-pixels": self.min_pixels,
            "--max-pixels": self.max_pixels,
        }
        for option, value in counts.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise EvalConfigError(f"{option} must be a whole number >= 1, got {value!r}")
        if not _finite(self.temperature) or self.temperature < 0:
            raise EvalConfigError(f"--temperature must be a finite number >= 0, got {self.temperature!r}")
        if self.fps is not None and (not _finite(self.fps) or self.fps <= 0):
            raise EvalConfigError(f"--fps must be a finite number > 0, got {self.fps!r}")
        if not _finite(self.confidence_level) or not 0 < self.confidence_level < 1:
            raise EvalConfigError(f"confidence level must be in (0, 1), got {self.confidence_level!r}")

    @property
    def engine(self) -> str:
        """What runs the model: the backend itself, or the engine inside the ``ray`` backend's actors."""
        if self.backend == "ray":
            return str(self.backend_options.get("engine", "transformers"))
        return self.backend

    @property
    def new_tokens(self) -> int:
        return self.max_new_tokens or DEFAULT_MAX_NEW_TOKENS[self.prompting]

    def input_config(self) -> InputConfig:
        return InputConfig(inputs=self.inputs, preset=self.resolved.preset, system_prompt=self.resolved.system_prompt)

    @property
    def model_label(self) -> str:
        """The requests' model: the base, or base + adapter (with its weights digest)."""
        return model_label(self.model, self.adapter)

    def media_roots(self) -> dict[str, str | None]:
        """The media roots, absolute: the records' clip paths and ``run.json`` must not depend on the working folder."""
        return {
            "tvqa_root": str(Path(self.tvqa_root).resolve()) if self.tvqa_root else None,
            "media_root": str(Path(self.media_root).resolve()) if self.media_root else None,
        }

    def sampling(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "max_tokens": self.new_tokens, "seed": self.seed}

    def inputs_on_disk(self) -> dict[str, str | None]:
        """The folders a run reads (an ``--out`` must never be or hold one of them)."""
        return {
            "the dataset": self.dataset,
            "the model": self.model,
            "the adapter": self.adapter,
            "the TVQA root": self.tvqa_root,
            "the media root": self.media_root,
        }

    def identity(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "backend": self.backend,
            "dataset": self.dataset,
            "config": self.config,
            "split": self.split,
            "prompt_id": prompt_id(self.prompting, self.prompt_version),
            "input_config": self.input_config().to_json(),
            "sampling": self.sampling(),
            "adapter": asdict(self.mcq) if self.mcq else "crossomni",  # the dataset adapter
            "peft_adapter": {"id": self.adapter, "sha256": adapter_fingerprint(self.adapter)} if self.adapter else None,
        }


@dataclass
class EvalResult:
    out_dir: Path
    metrics: dict[str, Any]
    n_items: int
    n_scored: int
    n_pending: int
    seconds_total: float
    seconds_setup: float  # building the backend (model load)
    seconds_backend: float  # inside backend.generate (media decoding, processor, generate)
    seconds_model: float  # inside model.generate, as the backend reports it
    backend_calls: int
    seconds_report: float = 0.0  # report.md and plots, a fixed cost per run


def load_items(cfg: EvalConfig, dataset: Any | None, media_dir: Path) -> list[Item]:
    """The run's items: from ``dataset`` if given, else ``load_dataset(cfg.dataset, cfg.config)``."""
    if dataset is None:
        if not cfg.dataset:
            raise ValueError("pass --dataset (an exported folder or a Hub dataset id)")
        import datasets

        crossomni.check_not_release(cfg.dataset)
        dataset = datasets.load_dataset(cfg.dataset, cfg.config, split=cfg.split)
    elif hasattr(dataset, "keys") and cfg.split in dataset:
        dataset = dataset[cfg.split]
    if cfg.limit is not None:
        dataset = dataset.select(range(min(cfg.limit, len(dataset))))
    roots = cfg.media_roots()
    if cfg.mcq is not None:
        return mcq_items(dataset, cfg.mcq, media_dir, root=roots["media_root"])
    if roots["tvqa_root"]:
        try:
            dataset = crossomni.resolve_media(dataset, roots["tvqa_root"])
        except FileNotFoundError as err:
            raise PreflightError(str(err)) from None
    return crossomni_items(dataset, media_dir, root=roots["media_root"])


def make_backend(cfg: EvalConfig) -> Backend:
    """The configured backend (heavy imports happen here, only when there is work to do)."""
    options = dict(cfg.backend_options)
    engine = cfg.engine
    if cfg.adapter:
        options["adapter"] = cfg.adapter
    if engine in ("transformers", "vllm"):
        options.setdefault("max_new_tokens", cfg.new_tokens)
        options.setdefault("seed", cfg.seed)
    if engine == "transformers":
        options.setdefault("batch_size", cfg.batch_size)  # ray: rows per actor call, and the engine's batch
    return get_backend(cfg.backend, model=cfg.model, **options)


def chunk_size_for(cfg: EvalConfig, backend: Any) -> int:
    """Items per ``backend.generate`` call: ``cfg.chunk_size``, else the backend's own ``chunk_size``
    attribute, else ``batch_size`` for padded-batch backends and ``DEFAULT_CHUNK_SIZE`` for the rest.

    >>> chunk_size_for(EvalConfig(model="m", out="o", backend="vllm"), object())
    512
    >>> chunk_size_for(EvalConfig(model="m", out="o", backend="transformers", batch_size=8), object())
    8
    """
    size = cfg.chunk_size or getattr(getattr(backend, "backend", backend), "chunk_size", None)
    if size is None:
        size = cfg.batch_size if cfg.backend in PADDED_BATCH_BACKENDS else DEFAULT_CHUNK_SIZE
    if int(size) < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    return int(size)


def with_cache(backend: Backend, cache: str | None) -> Backend:
    """The backend behind the sqlite response cache when one is configured."""
    if not cache:
        return backend
    from model_calls import CachedBackend, ResponseCache

    return CachedBackend(backend, ResponseCache(cache))


def build_request(item: Item, cfg: EvalConfig, input_config: InputConfig) -> ModelRequest:
    """The model request of one item."""
    messages = build_messages(item_prompt(item, cfg), input_config, item.video, item.audio, item.start, item.end)
    return ModelRequest(
        model=cfg.model_label,
        messages=messages,
        prompt_version=prompt_id(cfg.prompting, cfg.prompt_version),
        sampling=cfg.sampling(),
        metadata={"id": item.id},
    )


def item_prompt(item: Item, cfg: EvalConfig) -> str:
    """The rendered text prompt of one item (biography, question, options and the instructions)."""
    row = {"question": item.question, "options": item.options, "biography": item.biography, "task_type": item.task}
    return render_prompt(row, cfg.prompting, cfg.prompt_version)


def make_record(item: Item, response: ModelResponse, cfg: EvalConfig, input_config: InputConfig) -> dict[str, Any]:
    """The scored JSONL record of one successful generation."""
    letter = extract_choice(response.text, item.options)
    usage = response.usage or {}
    return {
        **item.record_fields(),
        "prompt_id": prompt_id(cfg.prompting, cfg.prompt_version),
        "inputs": input_config.inputs,
        # what the backend reports actually reached the model (None when it cannot tell)
        "modalities": usage.get("modalities"),
        "question": item.question,
        "biography": item.biography,
        "options": list(item.options),
        "answer": item.answer,
        "video": item.video,
        "audio": item.audio,
        "start": item.start,
        "end": item.end,
        "prompt": item_prompt(item, cfg),
        "raw_output": response.text,
        "extracted": letter,
        "correct": letter == item.answer,
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "cached": response.cached,
    }


def compute_metrics(records: Sequence[dict[str, Any]], crossomni_tasks: bool, confidence_level: float) -> dict:
    """The metric dict of scored records (what ``metrics.json`` holds; recomputable from the JSONL)."""
    if not records:
        return {}
    outputs = [r["raw_output"] for r in records]
    answers = [r["answer"] for r in records]
    options = [r["options"] for r in records]
    clips = [r["clip_id"] for r in records]
    tasks = [r["task_type"] for r in records]
    if crossomni_tasks:
        return score(outputs, answers, tasks, clips, options, confidence_level)
    return score_by_category(outputs, answers, tasks, options, clips, confidence_level)


def _versions() -> dict[str, str]:
    versions = {}
    for package in ("crossomni", "torch", "transformers", "datasets", "evaluate", "vllm"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _check_identity(log: RunLog, identity: dict[str, Any], overwrite: bool = False) -> None:
    """Refuse to mix settings in one run folder, unless nothing was scored there yet or ``overwrite``."""
    path = log.dir / RUN
    if not path.exists():
        return
    previous = read_json(path).get("identity")
    previous = previous if isinstance(previous, dict) else {}
    different = sorted(key for key in identity if previous.get(key) != identity[key])
    if not different:
        return
    if overwrite or not log.load_records():
        log.clear()  # a failed start (e.g. a wrong --model) or an explicit --overwrite: begin anew
        return
    raise RunConflictError(
        f"{log.dir} holds a scored run with different {', '.join(different)}; "
        "use another --out folder, or --overwrite to discard it"
    )


def run_eval(
    cfg: EvalConfig, dataset: Any | None = None, backend: Backend | None = None, progress: bool = True
) -> EvalResult:
    """Run (or resume) an evaluation into ``cfg.out`` and write predictions, metrics, report and plots."""
    from tqdm.auto import tqdm

    started = time.perf_counter()
    if cfg.adapter and cfg.engine not in ADAPTER_BACKENDS:
        raise ValueError(
            f"--adapter needs --backend {' or '.join(ADAPTER_BACKENDS)}; for a served model, serve the adapter "
            "(vllm serve BASE --enable-lora --lora-modules NAME=PATH) and pass --model NAME"
        )
    if dataset is None and cfg.dataset:
        check_source(cfg.dataset, "--dataset")
    if backend is None and cfg.backend in ADAPTER_BACKENDS:
        check_source(cfg.model, "--model")
    claim_output_dir(cfg.out, "eval", overwrite=cfg.overwrite, protected=cfg.inputs_on_disk())
    log = RunLog(cfg.out)
    input_config = cfg.input_config()
    identity = redact(cfg.identity())  # as run.json records it: no password of a URL
    _check_identity(log, identity, cfg.overwrite)
    items = load_items(cfg, dataset, log.dir.resolve() / "media")
    if not items:
        raise PreflightError("the dataset selection is empty: nothing to evaluate")
    records = log.load_records()
    errors = log.load_errors()
    pending = [item for item in items if item.id not in records]
    meta: dict[str, Any] = {
        "identity": identity,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "peft_adapter": adapter_summary(cfg.adapter) if cfg.adapter else None,
        "media_order": "media before text" if input_config.media_first else "text before media",
        "audio_in_video": input_config.audio_in_video,
        "inputs_from": cfg.resolved.source,  # the adapter's record, or the base family's (= what training records)
        "training_inputs": cfg.resolved.trained,  # what the adapter recorded it was trained on (None: nothing)
        "input_mismatches": list(cfg.resolved.mismatches),
        "base_model_mismatch": cfg.resolved.base_mismatch,  # --model differs from the adapter's recorded base
        # where the clips came from: `crossomni view` serves the clips the records name under these, and only those
        "media_roots": cfg.media_roots(),
    }
    meta = redact(meta)
    write_json(log.dir / RUN, {**meta, "status": "running"})

    seconds_backend = seconds_model = seconds_setup = 0.0
    calls_before = backend.calls if backend is not None else 0
    correct = sum(bool(records[i.id]["correct"]) for i in items if i.id in records)
    scored = sum(i.id in records for i in items)
    status = "failed"
    try:
        if pending:
            if backend is None:
                tick = time.perf_counter()
                backend = make_backend(cfg)
                seconds_setup = time.perf_counter() - tick
                calls_before = backend.calls
            backend = with_cache(backend, cfg.cache)
            bar = tqdm(total=len(pending), desc=f"{cfg.prompting} eval", unit="q", disable=not progress)
            chunk_size = chunk_size_for(cfg, backend)
            for start in range(0, len(pending), chunk_size):
                chunk = pending[start : start + chunk_size]
                requests = [build_request(item, cfg, input_config) for item in chunk]
                tick = time.perf_counter()
                responses = backend.generate(requests)
                seconds_backend += time.perf_counter() - tick
                if len(responses) != len(requests):
                    raise RuntimeError(f"backend returned {len(responses)} responses for {len(requests)} requests")
                for item, response in zip(chunk, responses, strict=True):
                    usage = response.usage or {}
                    if usage.get("batch_seconds") is not None:
                        seconds_model += usage["batch_seconds"] / max(usage.get("batch_size", 1), 1)
                    if response.ok:
                        record = make_record(item, response, cfg, input_config)
                        log.append([record])  # one flushed line per item: a crash mid-chunk keeps the rest
                        records[item.id] = record
                        errors.pop(item.id, None)
                        correct += record["correct"]
                        scored += 1
                    else:
                        attempts = errors.get(item.id, {}).get("attempts", 0) + 1
                        errors[item.id] = {"id": item.id, "error": response.error, "attempts": attempts}
                    bar.update(1)
                bar.set_postfix(acc=f"{correct / max(scored, 1):.3f}", errors=len(errors))
            bar.close()
        status = "finished"
    finally:
        log.write_errors({key: value for key, value in errors.items() if key not in records})
        current = [records[item.id] for item in items if item.id in records]
        metrics = compute_metrics(current, cfg.mcq is None, cfg.confidence_level)
        write_json(log.dir / METRICS, metrics)
        calls = (backend.calls - calls_before) if backend is not None else 0
        seconds_total = time.perf_counter() - started
        summary = {
            "n_items": len(items),
            "n_scored": len(current),
            "n_pending": len(items) - len(current),
            "seconds_total": seconds_total,
            "seconds_setup": seconds_setup,
            "seconds_backend": seconds_backend,
            "seconds_model": seconds_model,
            "backend_calls": calls,
        }
        if status == "finished":  # an exception leaves "failed"
            status = "pending" if summary["n_pending"] else "complete"
        write_json(log.dir / RUN, {**meta, "status": status, **summary})
    tick = time.perf_counter()
    if current:
        from evaluation.report import write_run_report

        write_run_report(log.dir)
    seconds_report = time.perf_counter() - tick
    return EvalResult(out_dir=log.dir, metrics=metrics, seconds_report=seconds_report, **summary)
