"""Seeded, bounded fuzzing of every reader of outside input.

Each category mutates a valid input of the real format many ways. Two properties are checked:
- *no uncaught exception*: a reader either accepts the input or fails with its own error type
  (``SubtitleError``, a QA reject, ``ReleaseError``, ``ValueError`` from the metric, a parse failure);
- *no malformed input accepted*: mutations known to break the format (a listed set per category) are
  never accepted as valid.
The counts per category are printed (``pytest -s``) and must reach the floor below.
"""

from __future__ import annotations

import functools
import json
import math
import random
import shutil
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import crossomni
from builder.prompts import parse_reply
from builder.replies import BiographyReply, CaptionReply, QAReply, SummaryReply
from builder.tvqa.qa import read_qa_file
from builder.tvqa.subtitles import SubtitleError, SubtitleIndex, read_subtitles

SEED = 20261201
CASES_PER_CATEGORY = 200  # 6 categories: at least 1,200 cases in all
COUNTS: Counter[str] = Counter()

SRT = (
    "1\r\n00:00:01,000 --> 00:00:02,500\r\n(Rachel:) I found the recipe.\r\n\r\n"
    "2\r\n00:00:03,000 --> 00:00:04,000\r\n(Joey:) How you doin'?\r\nSecond line.\r\n\r\n"
)
QA_LINE = {
    "qid": 7,
    "q": "What does Rachel hold?",
    **{f"a{i}": f"option {i}" for i in range(5)},
    "answer_idx": 2,
    "ts": "1.5-6.0",
    "vid_name": "friends_s01e01_seg02_clip_14",
    "show_name": "Friends",
}
SUB_LINE = {
    "vid_name": "friends_s01e01_seg02_clip_14",
    "sub": [{"text": " Rachel : I found it .", "start": 0.5, "end": 1.5}, {"text": "Hi .", "start": 2.0, "end": 3.0}],
}
ODD_VALUES: list[object] = [
    None, True, 0, -1, 1e308, float("nan"), "", " ", "?", "null", [], {}, [1, 2], {"a": 1}, "x" * 5000,
    "../../etc/passwd", "/etc/hostname", "\x00", "é", 10**30,
]  # fmt: skip


def _text_mutations(rng: random.Random, text: str) -> Iterator[str]:
    """Byte-level damage: flips, cuts, insertions of odd characters, repeated spans."""
    for _ in range(CASES_PER_CATEGORY // 2):
        chars = list(text)
        for _ in range(rng.randint(1, 6)):
            kind = rng.random()
            at = rng.randrange(len(chars) or 1)
            if kind < 0.3 and chars:
                chars[at] = rng.choice(string.printable + "\x00\ufeff(:)->é")
            elif kind < 0.5:
                chars = chars[:at]
            elif kind < 0.7:
                chars[at:at] = rng.choice(["(" + " " * 1200, "99999999999:00:00,500", "-->", "\r\n\r\n", ":" * 300])
            elif chars:
                span = chars[at : at + rng.randint(1, 40)]
                chars[at:at] = span * rng.randint(2, 50)
        yield "".join(chars)


def _json_mutations(rng: random.Random, record: dict) -> Iterator[tuple[dict, bool]]:
    """A record with one field replaced by an odd value (``True``: the record is now malformed), or
    deleted, or the record nested deep."""
    keys = list(record)
    for _ in range(CASES_PER_CATEGORY // 2):
        mutated = json.loads(json.dumps(record))
        key = rng.choice(keys)
        if rng.random() < 0.25:
            del mutated[key]
        else:
            mutated[key] = rng.choice(ODD_VALUES)
        yield mutated, True


def _record(category: str, run: Callable[[], object]) -> object:
    COUNTS[category] += 1
    return run()


# --- .srt -----------------------------------------------------------------------------------------


def test_srt_files(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    path = tmp_path / "clip.srt"
    for text in _text_mutations(rng, SRT):
        for data in (text.encode("utf-8", "surrogatepass"), text.encode("latin-1", "replace")):
            path.write_bytes(data)
            try:
                _record("srt", lambda: read_subtitles(path))
            except SubtitleError:
                pass
    malformed = {
        "no timing line": "1\r\n(Rachel:) I found the recipe.\r\n\r\n",
        "end before start": "1\r\n00:00:05,000 --> 00:00:02,000\r\n(Rachel:) Hi.\r\n\r\n",
        "overflowing hour": "1\r\n999999999999:00:00,500 --> 999999999999:00:01,500\r\n(Rachel:) Hi.\r\n\r\n",
        "empty": "\r\n\r\n",
        "binary": "\x00\x01\x02\x03",
    }
    for name, text in malformed.items():
        path.write_bytes(text.encode("latin-1"))
        COUNTS["srt"] += 1
        try:
            cues, _ = read_subtitles(path)
        except SubtitleError:
            continue
        assert not any(cue.end <= cue.start or cue.end > 1e7 for cue in cues), f"{name} accepted: {cues}"
        assert name not in ("no timing line", "empty", "binary"), f"{name} accepted as valid: {cues}"


# --- QA jsonl -------------------------------------------------------------------------------------


def test_qa_lines(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    path = tmp_path / "tvqa_train.jsonl"
    lines = [json.dumps(m) for m, _ in _json_mutations(rng, QA_LINE)]
    lines += [json.dumps(m) for m, _ in _json_mutations(rng, QA_LINE)]
    lines += list(_text_mutations(rng, json.dumps(QA_LINE)))
    lines += ["[" * 100_000 + "]" * 100_000, "\udcff not utf-8", '{"qid": 1}', "null", "[]", '"a string"']
    for line in lines:
        path.write_bytes(line.encode("utf-8", "surrogateescape") + b"\n")
        results = list(_record("qa", lambda: read_qa_file(path)))
        for question, error in results:
            assert (question is None) != (error is None)
            if question is None:
                continue
            # accepted: the line really is a TVQA question
            assert question.q.strip() and question.vid_name and ".." not in question.vid_name
            assert not question.vid_name.startswith("/")
            assert all(isinstance(getattr(question, f"a{i}"), str) for i in range(5))


# --- preprocessed subtitle jsonl -------------------------------------------------------------------


def test_preprocessed_subtitle_lines(tmp_path: Path) -> None:
    rng = random.Random(SEED + 2)
    path = tmp_path / "tvqa_preprocessed_subtitles.jsonl"
    records = []
    for mutated, _ in _json_mutations(rng, SUB_LINE):
        records.append(mutated)
    for _ in range(CASES_PER_CATEGORY // 2):
        record = json.loads(json.dumps(SUB_LINE))
        cue = rng.choice(record["sub"])
        cue[rng.choice(["text", "start", "end"])] = rng.choice(ODD_VALUES)
        records.append(record)
    for number, record in enumerate(records):
        record = {**record, "vid_name": f"clip_{number}"} if isinstance(record.get("vid_name"), str) else record
        path.write_text(json.dumps(record) + "\n" + json.dumps(SUB_LINE) + "\n")
        index = _record("subtitle_jsonl", lambda: SubtitleIndex.build(path))
        assert SUB_LINE["vid_name"] in index  # one bad line never hides the others
        for vid in list(index.offsets):
            try:
                cues = index.cues(vid)
            except SubtitleError:
                continue
            assert all(isinstance(c.text, str) and c.end >= c.start for c in cues), record


# --- release files ---------------------------------------------------------------------------------


@pytest.fixture()
def release_copy(sample_release: Path, tmp_path: Path) -> Callable[[], Path]:
    def fresh() -> Path:
        target = tmp_path / "release"
        shutil.rmtree(target, ignore_errors=True)
        return Path(shutil.copytree(sample_release, target))

    return fresh


def test_release_files(release_copy: Callable[[], Path]) -> None:
    rng = random.Random(SEED + 3)
    base = release_copy()
    clip = json.loads((base / "clips.jsonl").read_text().splitlines()[0])
    instance = json.loads((base / "train.jsonl").read_text().splitlines()[0])
    cases: list[tuple[str, str]] = []
    cases += [("clips.jsonl", json.dumps(m)) for m, _ in _json_mutations(rng, clip)]
    cases += [("train.jsonl", json.dumps(m)) for m, _ in _json_mutations(rng, instance)]
    cases += [("release.json", text) for text in _text_mutations(rng, (base / "release.json").read_text())][:60]
    cases += [("test.jsonl", "[" * 50_000), ("release.json", "[]"), ("release.json", "\udcff")]
    for name, text in cases:
        release = release_copy()
        path = release / name
        if name == "release.json":
            path.write_bytes(text.encode("utf-8", "surrogateescape"))
        else:  # the mutated record replaces the first line
            lines = path.read_text().splitlines()
            lines[0] = text
            path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
        try:
            _record("release", lambda r=release: crossomni.validate_release(r))
        except crossomni.ReleaseError:
            continue
        # accepted: only a mutation that left the record valid (e.g. a new value of the right type)
        if name == "clips.jsonl":
            record = json.loads(text)
            assert isinstance(record.get("clip_id"), str) and record["clip_id"].strip(), text
            for column in ("video", "audio"):
                value = record.get(column)
                assert isinstance(value, str) and ".." not in value and not value.startswith("/"), text
        elif name == "train.jsonl":
            record = json.loads(text)
            assert isinstance(record.get("id"), str) and record["id"].strip(), text
            assert isinstance(record.get("rationale"), str) and record["rationale"].strip(), text
            assert isinstance(record.get("question"), str) and record["question"].strip(), text
            start, end = record.get("start"), record.get("end")
            assert not isinstance(start, bool) and not isinstance(end, bool) and 0 <= start < end <= 8.5, text


# --- metric inputs ---------------------------------------------------------------------------------


@functools.cache
def _metric() -> object:
    import evaluate

    return evaluate.load(str(Path(__file__).resolve().parents[1] / "evaluation" / "crossomni_acc"))


def test_metric_inputs() -> None:
    metric = _metric()
    rng = random.Random(SEED + 4)
    valid = {
        "predictions": ["A", "The answer is (B).", "C"],
        "references": ["A", "B", "D"],
        "task_types": ["audio", "vision_to_text", "text"],
    }
    for _ in range(CASES_PER_CATEGORY):
        kwargs = json.loads(json.dumps(valid))
        field = rng.choice(["predictions", "references", "task_types", "clip_ids", "options", "n_bootstrap"])
        value = rng.choice(ODD_VALUES[:14])
        if field in ("predictions", "references", "task_types") and rng.random() < 0.7:
            kwargs[field][rng.randrange(3)] = value
        elif field == "options":
            kwargs["options"] = [[value, "b", "c", "d"]] * 3
        else:
            kwargs[field] = value
        try:
            result = _record("metric", lambda k=kwargs: metric.compute(**k))
        except ValueError:
            pass
        else:
            assert 0.0 <= result["overall"] <= 1.0
            assert isinstance(kwargs["references"], list) and all(r in "ABCD" for r in kwargs["references"])
        # a failed call never poisons the next one
        assert metric.compute(**valid)["overall"] == pytest.approx(2 / 3)  # A and (B) right, C for D wrong


def _same_scores(got: dict, expected: dict) -> bool:
    return got.keys() == expected.keys() and all(
        (math.isnan(v) and math.isnan(got[k])) if isinstance(v, float) and math.isnan(v) else got[k] == v
        for k, v in expected.items()
    )


def test_metric_columns_of_any_kind() -> None:
    """numpy arrays, tuples and pandas Series (any index, shuffled too) score as the same lists do; sets, dicts and
    other unordered columns, seeds that are not integers >= 0 and task indices that are not ASCII digits are refused."""
    import numpy as np
    import pandas as pd

    from evaluation.crossomni_acc.scoring import score

    metric = _metric()
    rng = random.Random(SEED + 6)
    outputs = ["A", "b", "(C)", "The answer is D.", None, "", "答案是B", "\\boxed{\\text{C}}", "(A)(B)", "x" * 300]
    for _ in range(CASES_PER_CATEGORY // 2):
        n = rng.randint(1, 9)
        columns = {
            "predictions": [rng.choice(outputs) for _ in range(n)],
            "references": [rng.choice("ABCD") for _ in range(n)],
            "task_types": [rng.choice(crossomni.TASK_NAMES) for _ in range(n)],
            "clip_ids": [f"clip_{rng.randrange(3)}" for _ in range(n)],
            "options": [rng.choice([None, ["a nurse", "a chef", "an actor", "a pilot"]]) for _ in range(n)],
        }
        settings = {"confidence_level": 0.9, "n_bootstrap": 20, "seed": rng.randrange(5)}
        expected = score(**columns, **settings)
        index = rng.sample(range(100, 100 + n), n)  # a Series after a shuffle keeps its labels: positions count
        kind = rng.choice(["numpy", "series", "tuple"])
        wrapped = {}
        for name, values in columns.items():
            if kind == "series":
                wrapped[name] = pd.Series(values, index=index, dtype=object)
            elif kind == "numpy":
                items = [np.array(v) if isinstance(v, list) else v for v in values] if name == "options" else values
                wrapped[name] = np.array([*items, None], dtype=object)[:-1]
            else:
                wrapped[name] = tuple(values)
        assert _same_scores(_record("metric", lambda w=wrapped, s=settings: score(**w, **s)), expected), kind
        assert _same_scores(_record("metric", lambda w=wrapped, s=settings: metric.compute(**w, **s)), expected), kind
        unordered = dict(wrapped, **{rng.choice(["predictions", "references", "task_types"]): set("AB")})
        with pytest.raises(ValueError, match=r"ordered|expected"):
            _record("metric", lambda u=unordered: metric.compute(**u))
    odd_seeds = [1.5, -1, True, "0", None, float("nan"), [1], 2**70 * -1]
    odd_tasks = ["０", "٣", "３", "²", "1.0", " 1 ", "+1", "-0", "9", "١"]
    for value in odd_seeds + odd_tasks:
        kwargs = {"predictions": ["A", "B"], "references": ["A", "C"], "task_types": ["audio", "text"]}
        if value in odd_tasks:
            kwargs["task_types"] = [value, "text"]
        else:
            kwargs |= {"seed": value, "clip_ids": ["c1", "c2"]}
        try:
            result = _record("metric", lambda k=kwargs: metric.compute(**k))
        except ValueError:
            continue
        assert value == " 1 ", value  # only a class index with spaces around it is one
        assert result["vision"] == 1.0


def test_metric_reader_on_hostile_text() -> None:
    """Mutated answers never crash the reader nor give a letter outside the choices; two bracketed letters in a
    row, and repeated reasoning tags, read as no answer."""
    from evaluation.crossomni_acc.answer_extraction import extract_choice

    rng = random.Random(SEED + 7)
    pieces = [
        "<think>", "</think>", "<answer>", "</answer>", "\\boxed{", "}", "$", "(A)", "(B)", "答案是", "C", "or", " ",
        "\n", "<|im_end|>", "Human:", "not ", "Final answer: ", "◁think▷", "<|channel|>final<|message|>",
    ]  # fmt: skip
    for _ in range(CASES_PER_CATEGORY // 2):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 60)))
        for mutated in (text, text * rng.randint(2, 30)):
            assert _record("metric", lambda t=mutated: extract_choice(t)) in (None, "A", "B", "C", "D")
        first, second = rng.sample("ABCD", 2)
        gap = rng.choice(["", " ", "  ", "\n"])
        wrap = rng.choice([("(", ")"), ("[", "]")])
        pair = f"{wrap[0]}{first}{wrap[1]}{gap}{wrap[0]}{second}{wrap[1]}"
        assert _record("metric", lambda p=pair: extract_choice(p)) is None, pair
        assert _record("metric", lambda p=pair: extract_choice("Answer: " + p)) is None, pair
        tags = rng.choice(["<think>", "◁think▷", "<answer>", "<|channel>"]) * rng.randint(100, 2000)
        assert _record("metric", lambda t=tags: extract_choice(t)) is None


# --- model replies ---------------------------------------------------------------------------------


def test_model_replies() -> None:
    rng = random.Random(SEED + 5)
    good = {
        CaptionReply: {"caption": "Two people talk in a kitchen."},
        SummaryReply: {"summary": "Rachel tells Joey about a recipe."},
    }
    texts: list[str] = []
    for payload in good.values():
        texts += list(_text_mutations(rng, json.dumps(payload)))
        for key in payload:
            texts += [json.dumps({**payload, key: value}) for value in ODD_VALUES]
    texts += ["", "   ", "null", "```json\n{", "{" * 10_000, "<think>" * 500, "n/a", '{"caption": "?"}']
    schemas = [CaptionReply, SummaryReply, BiographyReply, QAReply]
    for text in texts:
        for schema in schemas:
            parsed, error = _record("replies", lambda t=text, s=schema: parse_reply(t, s))
            assert (parsed is None) != (error is None)
            if parsed is not None:  # accepted: every text field says something
                for value in parsed.model_dump().values():
                    if isinstance(value, str):
                        assert value.strip() and value.strip().lower() not in {"?", "null", "none", "n/a"}, text


# --- eval run files and our other JSONL files -----------------------------------------------------

# Every boundary str.splitlines knows; JSON escapes the ASCII ones, but not U+0085, U+2028, U+2029.
LINE_BREAKS = ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\r\n"]
RUN_META = {
    "identity": {
        "model": "m",
        "backend": "scripted",
        "dataset": None,
        "config": "all",
        "split": "test",
        "prompt_id": "default.v1",
        "input_config": {"inputs": "full", "system_prompt": None},
        "sampling": {"temperature": 0.0},
        "adapter": "crossomni",
    },
    "status": "complete",
    "media_roots": {"tvqa_root": None, "media_root": None},
}
PREDICTION = {
    "id": "friends_s01e01_seg02_clip_14-audio",
    "task_type": "audio",
    "clip_id": "friends_s01e01_seg02_clip_14",
    "question": "Who speaks first?",
    "biography": "Rachel: a waitress",
    "options": ["Rachel", "Joey", "Ross", "Monica"],
    "answer": "A",
    "video": None,
    "start": 0.0,
    "end": 4.0,
    "raw_output": "Answer: A",
    "extracted": "A",
    "correct": True,
    "modalities": ["text", "video", "audio"],
}


def _run_folder(root: Path, meta: str, predictions: bytes, metrics: str = '{"overall": 1.0, "count": 2}') -> Path:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    (root / "run.json").write_bytes(meta.encode("utf-8", "surrogateescape"))
    (root / "metrics.json").write_text(metrics)
    (root / "predictions.jsonl").write_bytes(predictions)
    return root


def _read_run(run: Path) -> list[dict] | None:
    """What `eval report` and `view` do with a run folder: its records, or None for a one-line refusal."""
    from evaluation.report import load_run
    from evaluation.runlog import RunLog, record_problem
    from evaluation.viewer import ViewerApp

    try:
        _, _, records = load_run(run)
        page = ViewerApp(run)
    except (ValueError, FileNotFoundError) as err:
        assert str(err).startswith(str(run)) and "\n" not in str(err), err  # names the file; one line
        RunLog(run).load_records()  # the runner's resume: drops what it cannot use, never raises
        return None
    for record in records:
        assert record_problem(record) is None, record
        item = page.item(record["id"])
        assert item["raw_output"] == record["raw_output"] and item["options"] == record["options"]
        assert all(v is None or isinstance(v, float | int) for v in (item["start"], item["end"])), item
    page.state()
    return records


def test_run_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rng = random.Random(SEED + 6)
    other = json.dumps({**PREDICTION, "id": "other", "correct": False, "extracted": None}) + "\n"
    meta = json.dumps(RUN_META)
    folder = tmp_path / "run"
    # a record with one field made odd, or deleted: refused with file and line, or still a valid record
    for mutated, _ in _json_mutations(rng, PREDICTION):
        data = (other + json.dumps(mutated, ensure_ascii=False) + "\n").encode()
        _record("run_files", lambda b=data: _read_run(_run_folder(folder, meta, b)))
    # byte-level damage to a record line (cuts, raw CR LF, repeats)
    for text in list(_text_mutations(rng, json.dumps(PREDICTION)))[:40]:
        data = (other + text + "\n").encode("utf-8", "surrogateescape")
        _record("run_files", lambda b=data: _read_run(_run_folder(folder, meta, b)))
    # line breaks of every kind inside the text fields: kept exactly, never a broken record
    for _ in range(40):
        record = json.loads(json.dumps(PREDICTION))
        for key in rng.sample(["raw_output", "question", "biography", "id", "clip_id"], 3):
            at = rng.randrange(len(record[key]) + 1)
            record[key] = record[key][:at] + "".join(rng.sample(LINE_BREAKS, 3)) + record[key][at:]
        data = (other + json.dumps(record, ensure_ascii=False) + "\n").encode()
        records = _record("run_files", lambda b=data: _read_run(_run_folder(folder, meta, b)))
        assert records is not None and records[-1] == record
    # run.json and metrics.json that are not what eval writes
    for text in ["[]", "null", '"run"', "[" * 50_000, "\udcff", "", *list(_text_mutations(rng, meta))[:20]]:
        _record("run_files", lambda t=text: _read_run(_run_folder(folder, t, other.encode())))
    for key in [*RUN_META["identity"], "media_roots"]:
        for value in rng.sample(ODD_VALUES, 3):
            edited = json.loads(meta)
            target = edited if key == "media_roots" else edited["identity"]
            target[key] = value
            text = json.dumps(edited)
            _record("run_files", lambda t=text: _read_run(_run_folder(folder, t, other.encode())))
    for value in ODD_VALUES[:14]:
        metrics = json.dumps({"overall": value, "count": 1, "note": value})
        _record("run_files", lambda m=metrics: _read_run(_run_folder(folder, meta, other.encode(), m)))
    # malformed on purpose: each must be refused
    refused = {
        "list run.json": ("[]", other),
        "identity a list": (json.dumps({**RUN_META, "identity": []}), other),
        "no task_type": (meta, json.dumps({k: v for k, v in PREDICTION.items() if k != "task_type"}) + "\n"),
        "no id": (meta, json.dumps({k: v for k, v in PREDICTION.items() if k != "id"}) + "\n"),
        "correct a string": (meta, json.dumps({**PREDICTION, "correct": "false"}) + "\n"),
        "repeated id": (meta, other + other),
        "a list record": (meta, "[1, 2]\n" + other),
    }
    for name, (meta_text, lines) in refused.items():
        COUNTS["run_files"] += 1
        assert _read_run(_run_folder(folder, meta_text, lines.encode())) is None, name
    # a torn last line (a crash mid-write) is not an error: the item is redone
    torn = (other + json.dumps(PREDICTION)[:30]).encode()
    assert [r["id"] for r in _read_run(_run_folder(folder, meta, torn)) or []] == ["other"]


def test_other_jsonl_readers_keep_line_separators(tmp_path: Path) -> None:
    """The model-call logs, review decisions and release files: a text with U+2028 & co. reads back whole."""
    from builder.review.decisions import append_decision, read_decisions
    from model_calls.store import CompletionLog, dumps, iter_records, write_atomic

    rng = random.Random(SEED + 7)
    for number in range(30):
        text = "".join(rng.choice([*LINE_BREAKS, "a", " ", "é"]) for _ in range(12))
        record = {"item": f"clip{text}", "out": {"text": text, "n": number}}
        path = tmp_path / f"calls{number}.jsonl"
        write_atomic(path, [dumps(record), dumps({**record, "item": "b"})])
        assert _record("run_files", lambda p=path: list(iter_records(p)))[0] == record
        log = CompletionLog(tmp_path / f"stage{number}.jsonl")
        log.record(f"clip{text}", [{"caption": text}], [])
        log.close()
        assert CompletionLog(tmp_path / f"stage{number}.jsonl").done == {f"clip{text}"}
        release = tmp_path / f"release{number}"
        release.mkdir()
        if any(unicodedata.category(c) == "Cc" for c in text):  # no release id holds a control character
            with pytest.raises(ValueError, match="control character"):
                append_decision(release, f"id{text}", "accept")
            assert list(read_decisions(release)) == []
        else:
            append_decision(release, f"id{text}", "accept")
            assert list(read_decisions(release)) == [f"id{text}"]
        lines = tmp_path / f"train{number}.jsonl"
        lines.write_text(json.dumps({"q": text}, ensure_ascii=False) + "\n" + json.dumps({"q": 2}) + "\n")
        assert [r["q"] for _, r in crossomni.iter_jsonl(lines)] == [text, 2]


def test_the_fuzz_suite_is_large_enough(request: pytest.FixtureRequest) -> None:
    """Runs last in this file: the categories above reached their floor of cases."""
    defined = {name for name in globals() if name.startswith("test_")}
    selected = {item.originalname for item in request.session.items if item.module.__name__ == __name__}
    if selected != defined:  # a -k or node-id run of part of the file: its count says nothing
        pytest.skip(f"only part of this file was selected ({len(selected)} of {len(defined)} tests)")
    assert set(COUNTS) == {"srt", "qa", "subtitle_jsonl", "release", "metric", "replies", "run_files"}, dict(COUNTS)
    print("fuzz cases by category:", dict(COUNTS), "total", sum(COUNTS.values()))
    assert sum(COUNTS.values()) >= 1000 and min(COUNTS.values()) >= 100
