"""Seeded fuzzing of the readers of TVQA input, layouts and releases (issue 23, second pass).

A sibling of ``test_fuzz.py``, one category per class of fault a harness found, each mutated around
its input in the real format (TVQA's QA and subtitle lines, layout YAML, release lines):
- *no uncaught exception*: a reader accepts the input or fails with its own error (a QA reject,
  ``SubtitleError``, a one-line ``ValueError`` naming file, line and field, ``ReleaseError``);
- *nothing wrong accepted*: mutations known to break the input (a listed kind per category) are
  refused, and whatever is accepted has the property the fault broke (a clip gets only its own
  subtitle lines, a layout gives one file per clip inside the root, accepted release text can be
  exported, options that read the same are refused, float32 keeps start < end).
The counts per category are printed (``pytest -s``) and must reach the floor in the last test.
"""

from __future__ import annotations

import io
import json
import math
import random
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import crossomni
from builder.config import TvqaLayout
from builder.export import arrow_row
from builder.tvqa.layout import MediaLayout
from builder.tvqa.qa import read_qa_file
from builder.tvqa.shows import SHOWS, resolve_show, show_name, show_prefix
from builder.tvqa.subtitles import SubtitleError, SubtitleIndex

SEED = 20261223
CASES = 150  # per category
COUNTS: Counter[str] = Counter()
SAMPLE_RELEASE = Path(__file__).resolve().parents[1] / "builder" / "sample" / "release"

ODD: list[object] = [
    None, True, False, 0, -1, 1.5, 1e308, float("nan"), float("inf"), "", " ", "\u200b", "null", "3", [], {},
    [3], [None], {"a": 1}, "x" * 3000, "../x", "/etc/hostname", "\x00", "2024-01-01", 10**30,
]  # fmt: skip
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\x00", "\u2800", "\u3164", "\u180e", "\u202e"]
SPACES = [" ", "\t", "\n", "\u00a0", "\u3000", "\u2003", "\u2028"]
QA_LINE = {
    "qid": 7,
    "q": "What does Rachel hold?",
    **{f"a{i}": f"option {i}" for i in range(5)},
    "answer_idx": 2,
    "ts": "76.01-84.2",
    "vid_name": "friends_s01e01_seg02_clip_14",
    "show_name": "Friends",
}


def _count(category: str) -> None:
    COUNTS[category] += 1


# --- QA lines: ts and show_name ---------------------------------------------------------------------


def _ts_values(rng: random.Random) -> list[object]:
    number = lambda: rng.choice([0, 1, 2.5, 84.2, -1, 1e400, float("nan"), None, True, "1", "x", [1], {}])  # noqa: E731
    return [
        [number(), number()],
        [number()],
        [number(), number(), number()],
        f"{rng.choice(['', '-', '1', 'NaN', 'inf', '1e999', '٣'])}-{rng.choice(['', '2', 'NaN', '-3', 'x'])}",
        rng.choice(ODD),
    ]


def _show_values(rng: random.Random, vid: str) -> list[object]:
    other = rng.choice([s for s in SHOWS if s.prefix != show_prefix(vid)])
    own = next(s for s in SHOWS if s.prefix == show_prefix(vid))
    spaced = rng.choice(SPACES) + rng.choice(own.spellings()) + rng.choice(SPACES)
    return [rng.choice(other.spellings()), spaced, rng.choice(own.spellings()).upper(), rng.choice(ODD)]


def test_qa_ts_and_show_name(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    path = tmp_path / "tvqa_train.jsonl"
    vids = [
        "friends_s01e01_seg02_clip_14",
        "s01e01_seg01_clip_00",
        "met_s06e22_seg01_clip_02",
        "castle_s03e02_seg01_clip_01",
    ]
    lines = []
    while len(lines) < CASES * 2:
        vid = rng.choice(vids)
        for ts in _ts_values(rng):
            lines.append({**QA_LINE, "vid_name": vid, "show_name": show_name(show_prefix(vid)), "ts": ts})
        for show in _show_values(rng, vid):
            lines.append({**QA_LINE, "vid_name": vid, "show_name": show})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    results = list(read_qa_file(path))
    assert len(results) == len(lines)
    for line, (question, error) in zip(lines, results, strict=True):
        _count("qa_fields")
        assert (question is None) != (error is None)
        if question is None:
            assert error.startswith(f"{path}:") and "\n" not in error and len(error) < 600, error
            continue
        ts = line["ts"]
        if isinstance(ts, list) and any(v is None or isinstance(v, (bool, list, dict)) for v in ts):
            pytest.fail(f"ts {ts!r} accepted")
        if question.ts is not None:
            start, end = question.ts
            assert math.isfinite(start) and math.isfinite(end) and 0 <= start <= end, line
        # the show always is the clip's own, and a show_name given must name it
        assert question.show == show_name(show_prefix(question.vid_name))
        given = line["show_name"]
        assert isinstance(given, str) and given.strip(), line
        assert resolve_show(given) == show_prefix(question.vid_name), line


# --- the preprocessed subtitle jsonl: which line is whose -------------------------------------------


def _subtitle_line(rng: random.Random, vid: str, decoy: str) -> tuple[str, str]:
    """A line of clip ``vid`` (its cues say so) with ``decoy`` written somewhere else in it; and the
    clip the line is about by JSON's rules (the last top-level ``vid_name``)."""
    odd = rng.choice(["", "", *INVISIBLE, "\x85", "\x1b", "\ud83d", "\udc00", "Ｊｏｅｙ : ", "Zoe\u0308 : "])
    cues = [{"text": f" Joey : {odd}line of {vid} .", "start": 0.5, "end": 1.5}]
    head = json.dumps(vid)
    kind = rng.randrange(7)
    if kind == 0:  # the decoy nested in a cue, before the line's own name
        cues[0]["vid_name"] = decoy
        return '{"sub": ' + json.dumps(cues) + f', "vid_name": {head}}}', vid
    if kind == 1:  # the decoy nested in an object placed first
        return '{"meta": {"vid_name": ' + json.dumps(
            decoy
        ) + f'}}, "vid_name": {head}, "sub": {json.dumps(cues)}}}', vid
    if kind == 2:  # a duplicate key: JSON keeps the last
        return f'{{"vid_name": {json.dumps(decoy)}, "vid_name": {head}, "sub": {json.dumps(cues)}}}', vid
    if kind == 3:  # the key spelt with an escape
        return f'{{"vid_name": {json.dumps(decoy)}, "vid\\u005fname": {head}, "sub": {json.dumps(cues)}}}', vid
    if kind == 4:  # the decoy in the text only
        cues[0]["text"] = f' Joey : "vid_name": "{decoy}" line of {vid} .'
        return f'{{"vid_name": {head}, "sub": {json.dumps(cues)}}}', vid
    if kind == 5:  # TVQA's own form, spacing varied
        return f'{rng.choice(["", " ", chr(0xFEFF)])}{{ "vid_name" :{head},"sub":{json.dumps(cues)}}}', vid
    return json.dumps({"sub": cues, "vid_name": vid}), vid


def test_subtitle_lines_belong_to_their_clip(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    path = tmp_path / "tvqa_preprocessed_subtitles.jsonl"
    clips = [f"friends_s01e0{n}_seg02_clip_1{n}" for n in range(1, 6)]
    for _ in range(CASES):
        lines, owners = [], []
        for vid in rng.sample(clips, 3):
            line, owner = _subtitle_line(rng, vid, rng.choice([c for c in clips if c != vid]))
            lines.append(line)
            owners.append(owner)
        path.write_bytes("\n".join(lines).encode("utf-8") + b"\n")
        _count("subtitle_owner")
        index = SubtitleIndex.build(path)
        for vid in index.offsets:
            try:
                cues = index.cues(vid)
            except SubtitleError:
                continue
            assert all(cue.text.endswith(f"line of {vid} .") for cue in cues), (vid, lines)
            # what a cue keeps, the release can hold: no lone surrogate, no control character
            assert all(crossomni.text_problem(cue.text) is None for cue in cues), (vid, lines)
        for owner in owners:  # every clip is found at its own line (or reported), never lost to another's
            assert owner in index.offsets or any(owner in d for d in index.duplicates + index.bad_lines), lines


# --- layouts ------------------------------------------------------------------------------------------


def _pattern(rng: random.Random) -> object:
    base = rng.choice(["videos/{vid_name}.mp4", "audios/{show}/{show}_audios/{vid_name}.wav", "frames_hq/{vid_name}"])
    broken = [
        base.replace("{vid_name}", "{vid_name:>9000000000}"),
        base.replace("{vid_name}", "{vid_name!r}"),
        base.replace("{vid_name}", "{vid_name[0]}"),
        base.replace("{vid_name}", "{vid_name.__class__}"),
        base.replace("{vid_name}", "{0}"),
        base.replace("{vid_name}", "{}"),
        base.replace("{vid_name}", "{other}"),
        base.replace("{vid_name}", "clip"),  # every clip one file
        base.replace("{vid_name}", "{show}"),
        base + "{",
        "/abs/" + base,
        "../" + base,
        "a/../../" + base,
        "~/" + base,
        "C:\\" + base,
        base.replace("/", "/../", 1),
        "x" * 2000 + base,
    ]
    return rng.choice([base, base.replace(".mp4", ".MP4"), "{{literal}}/" + base, *broken, rng.choice(ODD)])


def _layout_document(rng: random.Random) -> dict[str, Any]:
    kinds = ["video", "frames", "audio", "subtitles"]
    document: dict[str, Any] = {}
    if rng.random() < 0.6:
        document["defaults"] = {rng.choice(kinds): rng.choice([_pattern(rng), [_pattern(rng), _pattern(rng)]])}
    if rng.random() < 0.5:
        show = rng.choice(["friends", "bbt", "How I Met You Mother", "met", "lost", "", "FRIENDS"])
        document["shows"] = rng.choice([{show: {rng.choice(kinds): _pattern(rng)}}, [show], show, rng.choice(ODD)])
    if rng.random() < 0.5:
        document["frames_fps"] = rng.choice([3, 2.5, 0, -3, 241, *ODD])
    if rng.random() < 0.1:
        document[rng.choice(["frame_fps", "default", 3])] = 1
    return document


def _check_layout(layout: MediaLayout) -> None:
    assert 0 < layout.frames_fps <= 240
    patterns = [p for kinds in (layout.defaults, *layout.shows.values()) for ps in kinds.values() for p in ps]
    for pattern in patterns:
        path = pattern.format(vid_name="friends_s01e01_seg02_clip_14", show="friends")
        other = pattern.format(vid_name="friends_s01e01_seg02_clip_15", show="friends")
        assert path != other, pattern  # one file per clip
        crossomni.contained_path("/srv/tvqa", path, "layout")  # inside the root


def test_layout_files(tmp_path: Path) -> None:
    rng = random.Random(SEED + 2)
    path = tmp_path / "layout.yaml"
    documents = [yaml.safe_dump(_layout_document(rng), allow_unicode=True) for _ in range(CASES)]
    documents += ["frames_fps: 2024-01-01\n", "frames_fps: .nan\n", "frames_fps: .inf\n", "shows: [friends]\n"]
    documents += ["defaults: {video: [}\n", "- a\n", "", "\t\x00", "defaults:\n  video:\n    - {vid_name}.mp4\n"]
    for text in documents:
        path.write_text(text, encoding="utf-8")
        _count("layout")
        try:
            layout = MediaLayout.load(path)
        except ValueError as err:
            message = str(err)
            assert message.startswith(f"{path}") and "\n" not in message and len(message) < 400, message
            continue
        _check_layout(layout)


def test_layout_options() -> None:
    rng = random.Random(SEED + 3)
    keys = ["qa_glob", "subtitles", "video", "frames", "audio", "frames_fps"]
    globs = ["data/tvqa_*.jsonl", "/abs/*.jsonl", "../*.jsonl", "**/tvqa_*.jsonl", "~/x.jsonl", "", "data/../../x"]
    for _ in range(CASES):
        key = rng.choice(keys)
        value = rng.choice(
            {"qa_glob": globs, "frames_fps": ["3", "0", "-1", "nan", "inf", "abc", "1e9", "2.5"]}.get(key)
            or [str(_pattern(rng)), "data/tvqa_preprocessed_subtitles.jsonl", "/etc/passwd"]
        )
        _count("layout")
        try:
            layout = TvqaLayout(**{key: value})
        except ValueError as err:
            assert str(err).startswith(f"{key}") and "\n" not in str(err) and len(str(err)) < 300, err
            continue
        _check_layout(layout.media())
        for single in (layout.qa_glob, layout.subtitles):
            if single:
                crossomni.check_relative(single, key)
                assert ".." not in Path(single).parts


# --- release records -------------------------------------------------------------------------------


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)


LOOKALIKES = [
    lambda t, r: _insert(t, r, "\u200b"),
    lambda t, r: _insert(t, r, "\u00ad"),
    lambda t, r: _insert(t, r, "\ufeff"),
    lambda t, r: _insert(t, r, "\u2060"),
    lambda t, r: unicodedata.normalize("NFD", t),
    lambda t, r: unicodedata.normalize("NFC", t),
    lambda t, r: _fullwidth(t),
    lambda t, r: t.upper(),
    lambda t, r: t.replace(" ", "\u00a0"),
    lambda t, r: t.replace(" ", "  "),
    lambda t, r: " " + t + "\u3000",
    lambda t, r: t.replace("a", "\u0430").replace("o", "\u043e").replace("e", "\u0435"),
]


def _insert(text: str, rng: random.Random, char: str) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + char + text[at:]


def _invisible_text(rng: random.Random) -> str:
    return "".join(rng.choice(INVISIBLE + SPACES) for _ in range(rng.randint(1, 6)))


def _exports(record: dict, clip: Any) -> None:
    """What validation accepts, the export can write: the row through Arrow and parquet."""
    table = pa.Table.from_pylist(
        [arrow_row(crossomni.to_example(record, clip, None))], schema=crossomni.FEATURES.arrow_schema
    )
    pq.write_table(table, io.BytesIO())
    start, end = table.column("start")[0].as_py(), table.column("end")[0].as_py()
    assert start < end, record


@pytest.fixture(scope="module")
def release_parts() -> tuple[dict, dict, dict]:
    clips = crossomni.read_clips(SAMPLE_RELEASE)
    train = json.loads((SAMPLE_RELEASE / "train.jsonl").read_text().splitlines()[0])
    test = json.loads((SAMPLE_RELEASE / "test.jsonl").read_text().splitlines()[0])
    return clips, train, test


def test_release_text(release_parts) -> None:
    clips, train, test = release_parts
    rng = random.Random(SEED + 4)
    text_fields = ["id", "question", "biography", "referent", "rationale"]
    for case in range(CASES * 3):
        split, base = rng.choice([("train", train), ("test", test)])
        record = json.loads(json.dumps(base))
        kind = case % 5
        if kind == 0:  # two options that read the same
            i, j = rng.sample(range(4), 2)
            accented = unicodedata.normalize("NFC", record["options"][j] + rng.choice(["", " café", " naïve", " Zoë"]))
            record["options"][j] = accented
            record["options"][i] = rng.choice(LOOKALIKES)(accented, rng)
            must_refuse = True
        elif kind == 1:  # a field of invisible characters only
            field = rng.choice([*text_fields, "options"])
            if field == "options":
                record["options"][rng.randrange(4)] = _invisible_text(rng)
            else:
                record[field] = _invisible_text(rng)
            must_refuse = field != "rationale" or split == "train"
        elif kind == 2:  # a lone surrogate or a control character somewhere
            char = rng.choice(["\ud800", "\udfff", "\udc80", "\x00", "\x07", "\x1b", "\x85"])
            field = rng.choice([*text_fields, "options"])
            if field == "options":
                at = rng.randrange(4)
                record["options"][at] = _insert(record["options"][at], rng, char)
            else:
                record[field] = _insert(record[field], rng, char)
            must_refuse = True
        elif kind == 3:  # times around float32's edges
            values = [0, -0.0, 5e-324, 1e-46, 1e-45, 1.4e-45, 1e-38, 7.999999, 8.0, 8.5, 8.5000001, 9.0, 1e39]
            record["start"], record["end"] = rng.choice(values), rng.choice(values)
            must_refuse = not crossomni.to_float32(record["start"]) < crossomni.to_float32(record["end"])
        else:  # random damage to a text field: any outcome, but what passes must export
            field = rng.choice(text_fields)
            record[field] = _insert(record[field], rng, rng.choice(INVISIBLE + SPACES + list("é(ー)́")))
            must_refuse = False
        _count("release_text")
        problems = crossomni.instance_problems(record, clips, split)
        if problems:
            assert all(":" in p for p in problems), problems
            continue
        assert not must_refuse, (kind, record)
        assert len({crossomni.option_key(o) for o in record["options"]}) == 4
        for field in text_fields[:4]:
            assert crossomni.has_visible_text(record[field]), record
        _exports(record, clips[record["clip_id"]])


def test_release_manifest_and_review(tmp_path: Path) -> None:
    from model_cards.dataset_card import DatasetCardFacts, card_data

    rng = random.Random(SEED + 5)
    manifest = json.loads((SAMPLE_RELEASE / "release.json").read_text())
    audit = manifest["shortcut_audit"]
    release = tmp_path / "release"
    release.mkdir()
    facts = DatasetCardFacts(media="reference", counts={s: Counter() for s in crossomni.SPLITS})
    for _ in range(CASES):
        mutated = json.loads(json.dumps(manifest))
        key = rng.choice(["synthetic", "shortcut_audit", "audit_part", "media_root", "description", "counts"])
        if key == "audit_part":
            part = json.loads(json.dumps(audit))
            row = part["per_task"][rng.choice(list(part["per_task"]))]
            target = rng.choice([part, row, row["accuracy"]])
            target[rng.choice(list(target))] = rng.choice(ODD)
            mutated["shortcut_audit"] = part
        else:
            mutated[key] = rng.choice([*ODD, "false", "true", "tvqa", "derived", {"train": {"audio": -1}}])
        (release / "release.json").write_text(json.dumps(mutated))
        _count("release_manifest")
        try:
            read = crossomni.read_release_manifest(release)
        except crossomni.ReleaseError as err:
            assert "\n" not in str(err), err
            continue
        assert isinstance(read.get("synthetic", False), bool)
        data = card_data(facts, read)
        assert data.source_datasets == (["original"] if read.get("synthetic") else ["extended|tvqa"])
        shortcut = read.get("shortcut_audit")
        if shortcut is not None:  # the card's table reads every reader of every task
            for row in shortcut["per_task"].values():
                assert all(0 <= row["accuracy"][name] <= 1 for name in shortcut["readers"])
    # review.jsonl: ids, decisions and fields of every type
    good = {"id": "x", "decision": "reject", "reason": "r", "reviewed_at": "2026-01-01T00:00:00+00:00"}
    for _ in range(CASES):
        record = dict(good)
        record[rng.choice(list(good))] = rng.choice([*ODD, "accept", "reject", ["a"], {"id": "x"}])
        if rng.random() < 0.2:
            del record[rng.choice(list(good))]
        torn = rng.random() < 0.2
        text = json.dumps(good) + "\n" + json.dumps(record) + ("" if torn else "\n")
        (release / "review.jsonl").write_text(text, encoding="utf-8", errors="surrogatepass")
        _count("review")
        try:
            decisions = crossomni.read_review(release)
            rejected = crossomni.rejected_ids(release)
        except crossomni.ReleaseError as err:
            assert "review.jsonl:2: " in str(err) and "\n" not in str(err), err
            continue
        assert all(isinstance(v, str) for d in decisions.values() for v in d.values())
        assert rejected <= set(decisions) and all(isinstance(i, str) for i in rejected)


def test_media_symlinks(tmp_path: Path) -> None:
    rng = random.Random(SEED + 6)
    root = tmp_path / "root"
    root.mkdir()
    (root / "real.mp4").write_bytes(b"\x00")
    for case in range(CASES):
        folder = root / f"case{case}"
        folder.mkdir()
        names = [folder / f"l{i}.mp4" for i in range(rng.randint(1, 4))]
        for i, link in enumerate(names):  # a chain of links that ends in a loop, a file, nothing, or outside
            end = rng.choice(["loop", "self", "file", "missing", "outside"])
            target = names[i + 1] if i + 1 < len(names) else {
                "loop": names[0], "self": link, "file": root / "real.mp4",
                "missing": folder / "gone.mp4", "outside": Path("/etc/hostname"),
            }[end]  # fmt: skip
            link.symlink_to(target)
        relative = names[0].relative_to(root).as_posix()
        _count("media_path")
        try:
            path = crossomni.resolve_clip_path(relative, "friends_s01e01_seg02_clip_14", root, "video")
        except (crossomni.UnsafePathError, FileNotFoundError) as err:
            assert "friends_s01e01_seg02_clip_14" in str(err) and "\n" not in str(err), err
            continue
        assert Path(path) == (root / "real.mp4").resolve()


def test_exports_of_review_outcomes(tmp_path: Path) -> None:
    """Whatever review rejected (nothing, a task in one split, whole tasks, everything), the export either
    writes files that all hold rows, listed exactly for the config/split pairs with rows, or (nothing
    left) refuses in one line; no .partial is left either way."""
    import shutil

    from builder.export import export_release

    rng = random.Random(SEED + 7)
    records = [
        (split, json.loads(line))
        for split in crossomni.SPLITS
        for line in (SAMPLE_RELEASE / f"{split}.jsonl").read_text().splitlines()
    ]
    configs = ("all", "single", "audio", "vision_to_text")
    for case in range(10):
        release = Path(shutil.copytree(SAMPLE_RELEASE, tmp_path / f"release{case}"))
        share = [0.0, 0.3, 0.7, 1.0][case % 4]
        tasks = set(rng.sample(crossomni.TASK_NAMES, rng.randint(0, 3)))
        kept: Counter[tuple[str, str]] = Counter()
        decisions = []
        for split, record in records:
            rejected = record["task_type"] in tasks or rng.random() < share
            decisions.append({"id": record["id"], "decision": "reject" if rejected else "accept", "reviewed_at": "t"})
            kept[(split, record["task_type"])] += not rejected
        (release / "review.jsonl").write_text("".join(json.dumps(d) + "\n" for d in decisions))
        out = tmp_path / f"export{case}"
        _count("export_review")
        try:
            summary = export_release(release, out, configs=configs)
        except crossomni.ReleaseError as err:
            assert "no instance to export" in str(err) and not any(
                kept[(s, t)] for s in crossomni.SPLITS for c in configs for t in crossomni.CONFIG_TASKS[c]
            )
            assert not out.exists() and not out.with_name(out.name + ".partial").exists()
            continue
        assert not out.with_name(out.name + ".partial").exists()
        for config in configs:
            for split in crossomni.SPLITS:
                rows = sum(kept[(split, t)] for t in crossomni.CONFIG_TASKS[config])
                files = summary.files.get(config, {}).get(split)
                assert (files is not None) == (rows > 0), (config, split, rows)
                if files:
                    assert sum(pq.read_metadata(out / f).num_rows for f in files) == rows
                    assert all(pq.read_metadata(out / f).num_rows > 0 for f in files)


def test_the_reader_fuzz_is_large_enough(request: pytest.FixtureRequest) -> None:
    """Runs last in this file: every category above reached its floor of cases."""
    defined = {name for name in globals() if name.startswith("test_")}
    selected = {item.originalname for item in request.session.items if item.module.__name__ == __name__}
    if selected != defined:  # a -k or node-id run of part of the file: its count says nothing
        pytest.skip(f"only part of this file was selected ({len(selected)} of {len(defined)} tests)")
    wanted = {"qa_fields", "subtitle_owner", "layout", "release_text", "release_manifest", "review", "media_path"}
    assert set(COUNTS) == wanted | {"export_review"}, dict(COUNTS)
    print("reader fuzz cases by category:", dict(COUNTS), "total", sum(COUNTS.values()))
    assert min(COUNTS[name] for name in wanted) >= 100 and COUNTS["export_review"] >= 10  # exports cost more
    assert sum(COUNTS.values()) >= 1500
