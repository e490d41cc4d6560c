"""The evaluation runner with a scripted backend: records, metrics, resume, pending errors, pre-flight."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from crossomni import SINGLE_TASKS
from evaluation.items import PreflightError
from evaluation.runner import EvalConfig, RunConflictError, compute_metrics, run_eval
from model_calls import ModelResponse
from tests.helpers.metrics import recompute_metrics


class ScriptedBackend:
    """Answers single-modality items correctly ("Answer: X") and cross ones with junk; can fail given ids."""

    name = "scripted"

    def __init__(self, gold: dict[str, str], tasks: dict[str, str], fail: set[str] = frozenset()) -> None:
        self.gold, self.tasks, self.fail = gold, tasks, set(fail)
        self.calls = 0
        self.requests = []

    def generate(self, requests):
        self.calls += 1
        self.requests.extend(requests)
        responses = []
        for request in requests:
            item = request.metadata["id"]
            if item in self.fail:
                responses.append(ModelResponse(key=request.key(), model=request.model, error="CUDA out of memory"))
                continue
            text = f"<think>hm</think> Answer: {self.gold[item]}" if self.tasks[item] in SINGLE_TASKS else "no idea"
            usage = {"modalities": ["text", "video", "audio"], "prompt_tokens": 10, "completion_tokens": 3}
            responses.append(ModelResponse(key=request.key(), model=request.model, text=text, usage=usage))
        return responses


@pytest.fixture(scope="module")
def test_split(sample_dataset):
    return sample_dataset["test"]


@pytest.fixture()
def scripted(test_split):
    tasks = dict(zip(test_split["id"], test_split.features["task_type"].int2str(test_split["task_type"]), strict=True))
    return ScriptedBackend(dict(zip(test_split["id"], test_split["answer"], strict=True)), tasks)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_run_records_and_scores(tmp_path, sample_dataset, scripted):
    cfg = EvalConfig(model="Qwen/Qwen2.5-Omni-7B", out=str(tmp_path / "run"), batch_size=5)
    result = run_eval(cfg, dataset=sample_dataset, backend=scripted, progress=False)
    records = _lines(tmp_path / "run" / "predictions.jsonl")
    assert len(records) == 18 and result.n_pending == 0 and scripted.calls == 4  # 18 items in blocks of 5
    first = records[0]
    for name in ("id", "task_type", "clip_id", "show", "source_modality", "target_modality", "is_cross"):
        assert name in first
    assert first["prompt_id"] == "default.v2" and first["inputs"] == "full"
    assert first["modalities"] == ["text", "video", "audio"]
    # a reader of the log sees what was asked: the question, the options and the prompt the model got
    row = next(r for r in sample_dataset["test"] if r["id"] == first["id"])
    assert first["question"] == row["question"] and first["options"] == row["options"]
    assert row["question"] in first["prompt"] and all(option in first["prompt"] for option in row["options"])
    assert Path(first["video"]).is_file() and first["end"] > first["start"]
    assert sum(r["correct"] for r in records) == 6  # the 6 single-modality items
    assert all(r["extracted"] is None for r in records if not r["correct"])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["single"] == 1.0 and metrics["cross"] == 0.0 and metrics["overall"] == pytest.approx(6 / 18)
    assert metrics["parse_failures"] == 12
    # the stored metrics are what the metric module computes from the JSONL
    assert recompute_metrics(records) == pytest.approx(metrics)
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert "Qwen Team" in meta["identity"]["input_config"]["system_prompt"]
    assert "family qwen2.5-omni" in meta["inputs_from"] and "crossomni train" in meta["inputs_from"]
    assert meta["audio_in_video"] is True and meta["media_order"] == "media before text"
    assert (tmp_path / "run" / "report.md").exists()


def test_requests_carry_the_clip_and_its_audio(tmp_path, sample_dataset, scripted):
    run_eval(EvalConfig(model="m", out=str(tmp_path / "a"), limit=2), sample_dataset, scripted, progress=False)
    system, user = scripted.requests[0].messages
    assert system == {"role": "system", "content": "You are a helpful assistant."}
    video, text = user["content"]
    assert video["type"] == "video" and video["audio_in_video"] is True and Path(video["video"]).is_file()
    assert video["end"] > video["start"] == 0.0 and video["fps"] == 2.0
    assert text["type"] == "text" and "Reply with only the letter" in text["text"]
    scripted.requests.clear()
    cfg = EvalConfig(model="m", out=str(tmp_path / "b"), limit=2, inputs="text-only", prompting="cot")
    run_eval(cfg, sample_dataset, scripted, progress=False)
    assert [part["type"] for part in scripted.requests[0].messages[1]["content"]] == ["text"]


def test_generation_errors_stay_pending_and_are_retried(tmp_path, sample_dataset, scripted):
    out = tmp_path / "run"
    failing = set(list(scripted.gold)[:3])
    scripted.fail = failing
    first = run_eval(EvalConfig(model="m", out=str(out)), sample_dataset, scripted, progress=False)
    assert first.n_pending == 3 and first.n_scored == 15
    assert {e["id"] for e in _lines(out / "errors.jsonl")} == failing
    assert not failing & {r["id"] for r in _lines(out / "predictions.jsonl")}
    assert json.loads((out / "metrics.json").read_text())["count"] == 15
    assert json.loads((out / "run.json").read_text())["status"] == "pending"

    scripted.fail = set()
    scripted.requests.clear()
    second = run_eval(EvalConfig(model="m", out=str(out)), sample_dataset, scripted, progress=False)
    assert {r.metadata["id"] for r in scripted.requests} == failing  # only the pending items are rerun
    assert second.n_pending == 0 and _lines(out / "errors.jsonl") == []
    assert sorted(r["id"] for r in _lines(out / "predictions.jsonl")) == sorted(scripted.gold)

    calls = scripted.calls
    third = run_eval(EvalConfig(model="m", out=str(out)), sample_dataset, scripted, progress=False)
    assert scripted.calls == calls and third.backend_calls == 0 and third.metrics == second.metrics


def test_torn_last_line_is_redone(tmp_path, sample_dataset, scripted):
    out = tmp_path / "run"
    run_eval(EvalConfig(model="m", out=str(out)), sample_dataset, scripted, progress=False)
    path = out / "predictions.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:25])  # crash mid-write
    scripted.requests.clear()
    run_eval(EvalConfig(model="m", out=str(out)), sample_dataset, scripted, progress=False)
    assert len(scripted.requests) == 1
    assert len(_lines(path)) == 18


LINE_BREAKS_JSON_KEEPS = "\u2028\u2029\x85"  # str.splitlines breaks at these; json.dumps leaves them unescaped


def test_outputs_with_unicode_line_separators_survive_eval_report_and_view(tmp_path, sample_dataset, scripted):
    """A model writing U+2028/U+2029/NEL: eval, resume, `eval report` and `view` read every record back as written."""
    from evaluation.report import load_run, write_run_report
    from evaluation.viewer import ViewerApp

    def odd_text(request) -> str:
        letter = scripted.gold[request.metadata["id"]]
        return f"Thinking{LINE_BREAKS_JSON_KEEPS}it over\x0b\x0c\x1c\r\n Answer: {letter}\u2028"

    generate = scripted.generate
    scripted.generate = lambda requests: [
        dataclasses.replace(response, text=odd_text(request))
        for request, response in zip(requests, generate(requests), strict=True)
    ]
    out = tmp_path / "run"
    first = run_eval(EvalConfig(model="m", out=str(out)), sample_dataset, scripted, progress=False)
    assert first.n_scored == 18 and first.metrics["overall"] == 1.0
    raw = (out / "predictions.jsonl").read_bytes()
    assert "\u2028".encode() in raw and raw.count(b"\n") == 18  # written unescaped, one line per record
    calls = scripted.calls
    again = run_eval(EvalConfig(model="m", out=str(out)), sample_dataset, scripted, progress=False)
    assert scripted.calls == calls and again.n_scored == 18  # resume read all 18 back: nothing redone
    assert (out / "predictions.jsonl").read_bytes() == raw  # and rewrote nothing
    _, _, records = load_run(out)
    assert len(records) == 18 and all(r["raw_output"].startswith("Thinking\u2028\u2029\x85it over") for r in records)
    assert "overall" in write_run_report(out).read_text()
    page = ViewerApp(out)
    assert page.state()["summary"].startswith("18 items, 18 correct")
    assert page.item(records[0]["id"])["raw_output"] == records[0]["raw_output"]


def test_other_settings_need_another_folder(tmp_path, sample_dataset, scripted):
    run_eval(EvalConfig(model="m", out=str(tmp_path), limit=1), sample_dataset, scripted, progress=False)
    with pytest.raises(RunConflictError, match="prompt_id"):
        run_eval(EvalConfig(model="m", out=str(tmp_path), limit=1, prompting="icl"), sample_dataset, scripted)


def test_reference_export_needs_the_tvqa_root(tmp_path, sample_release, sample_tvqa_root, scripted):
    from builder.export import export_release

    folder = tmp_path / "crossomni"
    export_release(sample_release, folder, tvqa_root=sample_tvqa_root, media="reference")
    cfg = EvalConfig(model="m", out=str(tmp_path / "run"), dataset=str(folder))
    with pytest.raises(PreflightError, match="--tvqa-root"):
        run_eval(cfg, backend=scripted, progress=False)
    assert scripted.calls == 0  # nothing ran before the media check
    cfg.tvqa_root = str(sample_tvqa_root)
    assert run_eval(cfg, backend=scripted, progress=False).n_scored == 18


def test_compute_metrics_of_no_records_is_empty():
    assert compute_metrics([], True, 0.95) == {}


def test_response_cache_answers_a_second_run(tmp_path, sample_dataset, scripted):
    cache = str(tmp_path / "cache.sqlite")
    first = run_eval(EvalConfig(model="m", out=str(tmp_path / "a"), cache=cache), sample_dataset, scripted, False)
    calls = scripted.calls
    second = run_eval(EvalConfig(model="m", out=str(tmp_path / "b"), cache=cache), sample_dataset, scripted, False)
    assert scripted.calls == calls and second.metrics == first.metrics
    assert all(r["cached"] for r in _lines(tmp_path / "b" / "predictions.jsonl"))


def test_a_crashing_backend_loses_no_finished_work(tmp_path, sample_dataset, scripted):
    class Crashing(ScriptedBackend):
        def generate(self, requests):
            if self.calls == 1:
                raise RuntimeError("server went away")
            return super().generate(requests)

    crashing = Crashing(scripted.gold, scripted.tasks)
    cfg = EvalConfig(model="m", out=str(tmp_path), batch_size=4)
    with pytest.raises(RuntimeError, match="server went away"):
        run_eval(cfg, sample_dataset, crashing, progress=False)
    assert len(_lines(tmp_path / "predictions.jsonl")) == 4
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "failed"
    result = run_eval(cfg, sample_dataset, scripted, progress=False)
    assert result.n_scored == 18 and len(scripted.requests) == 14


class SizeRecording(ScriptedBackend):
    """Records how many requests each ``generate`` call receives."""

    def __init__(self, *args, chunk_size: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sizes: list[int] = []
        if chunk_size is not None:
            self.chunk_size = chunk_size

    def generate(self, requests):
        self.sizes.append(len(requests))
        return super().generate(requests)


@pytest.mark.parametrize(
    ("settings", "backend_chunk", "sizes"),
    [
        ({"backend": "vllm"}, None, [18]),  # every pending item in one call (default chunk 512 > 18)
        ({"backend": "openai"}, None, [18]),
        ({"backend": "vllm", "chunk_size": 5}, None, [5, 5, 5, 3]),  # --chunk-size
        ({"backend": "vllm"}, 7, [7, 7, 4]),  # a backend's own chunk_size attribute
        ({"backend": "transformers", "batch_size": 4}, None, [4, 4, 4, 4, 2]),  # keeps --batch-size
        ({"backend": "transformers", "batch_size": 4, "chunk_size": 9}, None, [9, 9]),
    ],
)
def test_backend_receives_pending_items_in_chunks(tmp_path, sample_dataset, scripted, settings, backend_chunk, sizes):
    backend = SizeRecording(scripted.gold, scripted.tasks, chunk_size=backend_chunk)
    cfg = EvalConfig(model="m", out=str(tmp_path), **settings)
    result = run_eval(cfg, sample_dataset, backend, progress=False)
    assert backend.sizes == sizes and result.n_scored == 18
    assert len(_lines(tmp_path / "predictions.jsonl")) == 18


def test_a_resumed_vllm_run_sends_only_the_pending_items_in_one_chunk(tmp_path, sample_dataset, scripted):
    failing = set(list(scripted.gold)[5:9])
    backend = SizeRecording(scripted.gold, scripted.tasks, fail=failing)
    run_eval(EvalConfig(model="m", out=str(tmp_path), backend="vllm"), sample_dataset, backend, progress=False)
    backend.fail, backend.requests = set(), []
    result = run_eval(EvalConfig(model="m", out=str(tmp_path), backend="vllm"), sample_dataset, backend, False)
    assert backend.sizes == [18, 4] and {r.metadata["id"] for r in backend.requests} == failing
    assert result.n_pending == 0


def test_killed_mid_chunk_keeps_every_written_record_and_resumes(tmp_path, sample_dataset, scripted, monkeypatch):
    """Interrupted while the 10th record of an 18-item chunk is made: 9 lines are on disk, the rerun does 9."""
    from evaluation import runner

    clean = run_eval(EvalConfig(model="m", out=str(tmp_path / "clean"), backend="vllm"), sample_dataset, scripted)
    made = []
    original = runner.make_record

    def interrupted(*args, **kwargs):
        if len(made) == 9:
            raise KeyboardInterrupt
        made.append(True)
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "make_record", interrupted)
    cfg = EvalConfig(model="m", out=str(tmp_path / "run"), backend="vllm")
    backend = SizeRecording(scripted.gold, scripted.tasks)
    with pytest.raises(KeyboardInterrupt):
        run_eval(cfg, sample_dataset, backend, progress=False)
    written = [r["id"] for r in _lines(tmp_path / "run" / "predictions.jsonl")]
    assert len(written) == 9 and backend.sizes == [18]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"

    monkeypatch.setattr(runner, "make_record", original)
    backend.requests = []
    resumed = run_eval(cfg, sample_dataset, backend, progress=False)
    assert backend.sizes == [18, 9] and not {r.metadata["id"] for r in backend.requests} & set(written)
    final = _lines(tmp_path / "run" / "predictions.jsonl")
    assert sorted(r["id"] for r in final) == sorted(scripted.gold)  # each item exactly once
    assert resumed.metrics == clean.metrics


KILLED_CHILD = r"""
import os, signal, sys
import datasets
from evaluation import runlog
from evaluation.runner import EvalConfig, run_eval
from model_calls import ModelResponse

class Answering:
    name = "answering"
    calls = 0
    def generate(self, requests):
        self.calls += 1
        return [ModelResponse(key=r.key(), model=r.model, text="Answer: B") for r in requests]

written = 0
append = runlog.RunLog.append
def append_then_die(self, records):
    global written
    if written == 9:  # SIGKILL between the 9th and the 10th record of the 18-item chunk
        os.kill(os.getpid(), signal.SIGKILL)
    written += 1
    append(self, records)
runlog.RunLog.append = append_then_die
dataset = datasets.load_from_disk(sys.argv[1])
run_eval(EvalConfig(model="m", out=sys.argv[2], backend="vllm"), dataset, Answering(), progress=False)
"""


@pytest.mark.slow
def test_sigkilled_run_resumes_without_losing_a_record(tmp_path, sample_dataset):
    import os
    import subprocess
    import sys

    saved = tmp_path / "dataset"
    sample_dataset.save_to_disk(str(saved))
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1"}
    child = subprocess.run(
        [sys.executable, "-c", KILLED_CHILD, str(saved), str(out)], env=env, capture_output=True, timeout=300
    )
    assert child.returncode == -9, child.stderr[-2000:]
    written = [r["id"] for r in _lines(out / "predictions.jsonl")]
    assert len(written) == 9

    class Answering(ScriptedBackend):
        def generate(self, requests):
            self.calls += 1
            self.requests.extend(requests)
            return [ModelResponse(key=r.key(), model=r.model, text="Answer: B") for r in requests]

    backend = Answering({}, {})
    result = run_eval(EvalConfig(model="m", out=str(out), backend="vllm"), sample_dataset, backend, progress=False)
    assert backend.calls == 1 and len(backend.requests) == 9
    assert not {r.metadata["id"] for r in backend.requests} & set(written)
    final = _lines(out / "predictions.jsonl")
    assert len(final) == 18 and len({r["id"] for r in final}) == 18 and result.n_pending == 0
    assert result.metrics["overall"] == pytest.approx(sum(a == "B" for a in sample_dataset["test"]["answer"]) / 18)
