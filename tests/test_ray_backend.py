"""The ``ray`` backend on a local Ray cluster: same release, same eval records, resume after a killed driver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.optional import import_or_skip

ray = import_or_skip("ray", "the ray extra is not installed: pip install 'crossomni[ray]'")

from builder.config import BuildConfig  # noqa: E402
from builder.pipeline import run_build  # noqa: E402
from builder.sample import SAMPLE_REPLAY  # noqa: E402
from model_calls import CachedBackend, ModelRequest, ResponseCache, get_backend  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RELEASE_FILES = ("clips.jsonl", "train.jsonl", "test.jsonl")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def local_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _build(root: Path, out: Path, backend: str, **options) -> dict:
    config = BuildConfig(
        tvqa_root=root, out=out, backend=backend, backend_options=options, progress=False, name="crossomni-sample"
    )
    return run_build(config)


def _release(out: Path) -> dict[str, str]:
    return {name: (out / "release" / name).read_text(encoding="utf-8") for name in RELEASE_FILES}


def test_replies_come_back_in_order_and_are_streamed_to_the_cache(tmp_path):
    backend = get_backend("ray", engine="replay", path=str(SAMPLE_REPLAY), replicas=2, batch_size=1)
    requests = [ModelRequest(model=f"m{i}", messages=({"role": "user", "content": f"q{i}"},)) for i in range(6)]
    cache = ResponseCache(tmp_path / "cache.sqlite")
    seen: list[str] = []
    cached = CachedBackend(backend, cache)
    inner_hook = backend.on_response
    backend.on_response = lambda request, response: (seen.append(response.key), inner_hook(request, response))
    responses = cached.generate(requests)
    assert [r.key for r in responses] == [r.key() for r in requests]  # in request order, whatever the arrival order
    assert all(r.error for r in responses)  # no recording for these: errors, never invented answers
    assert sorted(seen) == sorted(r.key() for r in requests) and len(cache) == 6
    assert backend.calls == 1


def test_unknown_engine_and_missing_extra_are_one_line_errors():
    with pytest.raises(ValueError, match="engine=ray"):
        get_backend("ray", engine="ray")


def test_sample_build_through_ray_is_the_single_process_release(tmp_path, sample_tvqa_root):
    direct = tmp_path / "direct"
    _build(sample_tvqa_root, direct, "replay")
    through_ray = tmp_path / "ray"
    report = _build(sample_tvqa_root, through_ray, "ray", engine="replay", replicas=2)
    assert _release(through_ray) == _release(direct)
    model_stages = [s for s in report["stages"] if s["requests"]]
    assert model_stages and all(s["backend_calls"] == 1 for s in model_stages)  # one actor pool per stage


CHILD = r"""
import sys
from pathlib import Path
from builder.config import BuildConfig
from builder.pipeline import run_build
from builder.sample import SAMPLE_REPLAY
config = BuildConfig(tvqa_root=Path(sys.argv[1]), out=Path(sys.argv[2]), backend="ray", progress=False,
                     name="crossomni-sample", backend_options={"engine": "tests.helpers.slow_backend:SlowReplay",
                     "path": str(SAMPLE_REPLAY), "replicas": 2, "batch_size": 1, "delay": float(sys.argv[3])})
print("started", flush=True)
run_build(config)
print("finished", flush=True)
"""


def _child(root: Path, out: Path, delay: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(out), str(delay)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def test_killed_driver_resumes_with_nothing_lost_or_duplicated(tmp_path, sample_tvqa_root):
    reference = tmp_path / "reference"
    _build(sample_tvqa_root, reference, "replay")
    out = tmp_path / "killed"
    child = _child(sample_tvqa_root, out, 0.2)
    cache = out / "cache.sqlite"
    deadline = time.time() + 240
    # kill once some replies of a model stage are in the cache but the stage has not finished
    while time.time() < deadline and child.poll() is None:
        if cache.exists() and _rows(cache) >= 3 and not (out / "stages" / "caption.done.json").exists():
            break
        time.sleep(0.2)
    assert child.poll() is None, child.stdout.read()
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    stored = _rows(cache)
    assert stored >= 3
    rerun = _child(sample_tvqa_root, out, 0.0)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert _release(out) == _release(reference)
    for log in (out / "stages").glob("*.log.jsonl"):
        done = [json.loads(line)["item"] for line in log.read_text().splitlines() if '"done":true' in line]
        assert len(done) == len(set(done)), f"{log.name}: an item was recorded twice"
    report = json.loads((out / "report.json").read_text())
    caption = next(s for s in report["stages"] if s["name"] == "caption")
    assert caption["cache_hits"] >= stored - 1 or caption["skipped"]  # the killed run's replies were reused


def _rows(cache: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(cache) as db:
            return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_eval_through_ray_gives_the_local_backends_records(tmp_path, sample_dataset, tiny_omni_dir):
    from evaluation.runner import EvalConfig, run_eval
    from tests.helpers.tiny_omni import MAX_PIXELS, MIN_PIXELS

    common = dict(model=str(tiny_omni_dir), fps=1.0, max_pixels=MAX_PIXELS, min_pixels=MIN_PIXELS, limit=6)
    common |= dict(max_new_tokens=4, batch_size=2)
    local = run_eval(EvalConfig(out=str(tmp_path / "local"), **common), dataset=sample_dataset, progress=False)
    options = {"engine": "transformers", "replicas": 2, "dtype": "float32"}
    remote = run_eval(
        EvalConfig(out=str(tmp_path / "ray"), backend="ray", backend_options=options, **common),
        dataset=sample_dataset,
        progress=False,
    )
    assert local.n_scored == remote.n_scored == 6 and remote.backend_calls == 1

    def records(run: Path) -> list[dict]:
        lines = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
        ignore = {"cached"}
        return sorted(({k: v for k, v in r.items() if k not in ignore} for r in lines), key=lambda r: r["id"])

    assert records(tmp_path / "ray") == records(tmp_path / "local")
