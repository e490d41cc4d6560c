"""Broken config and numbers a user types: each is one short line naming the file, field or option (exit 2 for
usage, 1 otherwise), never a traceback, a hang or a silently different setting."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest
import yaml

from model_calls import ResponseCache
from model_calls.base import ModelResponse
from model_calls.cache import CacheError
from tests.helpers.cli import invoke

REPO = Path(__file__).resolve().parents[1]
# 342 bytes that expand to 9**9 strings: "billion laughs"
BOMB = "".join(
    f"{chr(97 + level)}: &{chr(97 + level)} [{', '.join([f'*{chr(96 + level)}'] * 9 if level else ['lol'] * 9)}]\n"
    for level in range(9)
)


def short_error(result, status: int, *phrases: str) -> str:
    output = result.output
    assert result.exit_code == status, output
    assert "Traceback" not in output and len(output.strip().splitlines()) <= 5, output
    flat = " ".join(output.split())
    for phrase in phrases:
        assert phrase in flat, output
    return flat


def models_file(tmp_path: Path, data: object, text: str | None = None) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(data))
    return path


def shipped_models() -> dict:
    return yaml.safe_load((REPO / "builder" / "models.yaml").read_text())


@pytest.mark.parametrize(
    ("change", "phrases"),
    [
        (lambda m: [m], ["top-level 'roles'"]),
        (lambda m: m["roles"].update(caption=None), ["roles.caption must be a mapping"]),
        (lambda m: m["roles"]["text"].update(batch_size=-5), ["roles.text.batch_size", "got -5"]),
        (lambda m: m["roles"]["text"].update(batch_size=0), ["roles.text.batch_size", "got 0"]),
        (lambda m: m["roles"]["voice"].update(batch_size=1.9), ["roles.voice.batch_size", "got 1.9"]),
        (lambda m: m["roles"]["voice"].update(model=""), ["roles.voice.model"]),
        (lambda m: m["roles"]["caption"].update(sampling=[1]), ["roles.caption.sampling"]),
    ],
    ids=["list", "caption-null", "batch-minus-5", "batch-0", "batch-1.9", "empty-model", "sampling-list"],
)
def test_a_bad_models_yaml_is_one_line_naming_file_and_field(tmp_path: Path, change, phrases) -> None:
    data = shipped_models()
    data = change(data) or data
    path = models_file(tmp_path, data)
    result = invoke(["build", "--sample", "--out", str(tmp_path / "b"), "--models", str(path), "--no-progress"])
    short_error(result, 2, str(path), *phrases)
    assert not (tmp_path / "b" / "stages").exists()  # refused before any stage ran


@pytest.mark.parametrize(
    "text",
    [BOMB, "roles: &r {caption: *r, text: *r, voice: *r}\n", "roles: [\n", "roles: !!python/object:os.system {}\n"],
    ids=["alias-bomb", "recursive-anchor", "not-yaml", "python-tag"],
)
def test_a_hostile_yaml_file_is_refused_fast(tmp_path: Path, text: str) -> None:
    path = models_file(tmp_path, None, text)
    started = time.perf_counter()
    result = invoke(["build", "--sample", "--out", str(tmp_path / "b"), "--models", str(path)])
    flat = short_error(result, 2, str(path))
    assert re.search(re.escape(str(path)) + r":\d+: ", flat), flat  # file:line:
    layout = tmp_path / "layout.yaml"
    layout.write_text(text.replace("roles", "defaults"))
    result = invoke(["inspect", "--tvqa-root", str(tmp_path), "--layout-file", str(layout)])
    short_error(result, 2, str(layout))
    assert time.perf_counter() - started < 10  # the bomb took 35 s and 3.1 GB, then MemoryError


@pytest.mark.parametrize("value", ["{a: 1", "[1, 2", "'open", "!!python/name:os.system x", "a: b: c", "@x", "*nope"])
def test_a_backend_option_that_is_not_yaml_is_a_usage_error_naming_it(tmp_path: Path, value: str) -> None:
    result = invoke(["build", "--sample", "--out", str(tmp_path / "b"), "-o", f"headers={value}"])
    short_error(result, 2, "-o headers", "quote it")


def test_a_cache_path_that_cannot_hold_the_cache_is_one_line_naming_it(sample_tvqa_root: Path, tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "notdb").write_bytes(b"\x00\x01 not sqlite" * 100)
    build = ["build", "--tvqa-root", str(sample_tvqa_root), "--backend", "replay", "--no-progress"]
    for path in ("/dev/null", str(tmp_path / "folder"), str(tmp_path / "notdb")):
        result = invoke([*build, "--out", str(tmp_path / "b"), "--cache", path])
        short_error(result, 1, f"response cache {path}")
    assert (tmp_path / "notdb").read_bytes() == b"\x00\x01 not sqlite" * 100  # never written over


def test_a_full_disk_under_the_cache_is_one_line_and_keeps_what_was_stored(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    cache.put_many([ModelResponse("first", "m", text="kept")])
    cache._db.execute(f"PRAGMA max_page_count={cache._db.execute('PRAGMA page_count').fetchone()[0]}")  # disk full
    with pytest.raises(CacheError, match=r"cache\.sqlite: cannot store 40 replies \(database or disk is full\)"):
        cache.put_many([ModelResponse(f"k{i}", "m", text="x" * 4000) for i in range(40)])
    assert cache.get("first").text == "kept" and len(cache) == 1
    cache.close()
    assert sqlite3.connect(tmp_path / "cache.sqlite").execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--chunk-size", "0"], "--chunk-size"),
        (["--batch-size", "-1"], "--batch-size"),
        (["--temperature", "nan"], "--temperature"),
        (["--temperature", "-0.5"], "--temperature"),
        (["--fps", "nan"], "--fps"),
        (["--fps", "inf"], "--fps"),
        (["--max-new-tokens", "-5"], "--max-new-tokens"),
        (["--max-new-tokens", "0"], "--max-new-tokens"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_out_of_range_eval_numbers_are_usage_errors(tmp_path: Path, args: list[str], option: str) -> None:
    replay = ["--backend", "replay", "--backend-option", f"path={tmp_path / 'replies.jsonl'}"]
    base = ["eval", "--model", "m", *replay, "--dataset", str(tmp_path), "--out", str(tmp_path / "r")]
    short_error(invoke([*base, *args]), 2, option)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("rows", ["0", "-1"])
def test_rows_per_shard_below_one_is_a_usage_error(sample_release: Path, tmp_path: Path, rows: str) -> None:
    result = invoke(["export", str(sample_release), "--out", str(tmp_path / "e"), "--rows-per-shard", rows])
    short_error(result, 2, "--rows-per-shard")
    from builder.export import export_release

    with pytest.raises(ValueError, match="rows per shard must be at least 1"):
        export_release(sample_release, tmp_path / "e", rows_per_shard=int(rows))
    assert not (tmp_path / "e").exists()


@pytest.mark.parametrize("weights", ["audio=abc", "audio", "audio=nan", "audio=-1", "audio=inf"])
def test_task_proportions_that_are_not_weights_are_usage_errors(tmp_path: Path, weights: str) -> None:
    result = invoke(["build", "--sample", "--out", str(tmp_path / "b"), "--task-proportions", weights])
    short_error(result, 2, "audio")
    assert not (tmp_path / "b" / "sample_tvqa").exists()
