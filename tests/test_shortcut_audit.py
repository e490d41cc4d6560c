"""The shortcut audit on a 40-clip generated sample: reading alone stays near chance in each target
group, answer letters are balanced, and report.json's numbers are what the release gives when
recomputed here; the audit gate fails a build; `crossomni eval --baselines` reads any split."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

import crossomni
from builder.records import AlignedClip
from builder.sample.scripted import read_answer
from crossomni_cli import app
from evaluation.baselines import BASELINES, written_in
from model_calls.store import iter_records
from tests.helpers.generated import build_generated

pytestmark = pytest.mark.slow
GATED = {"text": ("audio_to_text", "vision_to_text")}
GATED["audio_vision"] = tuple(t for t in crossomni.TASK_NAMES if t not in (*GATED["text"], "text"))


@pytest.fixture(scope="module")
def built40(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    return build_generated(tmp_path_factory.mktemp("sample40"), 40, seed=3)


def _rows(release: Path) -> list[dict]:
    clips = crossomni.read_clips(release)
    return [row for split in crossomni.SPLITS for row in crossomni.read_instances(release, split, clips)]


def test_generated_clips_are_distinct(built40) -> None:
    _, report, spec = built40
    assert report["release"]["clips"] == 40
    people = [tuple(sorted((p["name"], p["shirt"], p["pants"], p["side"]) for p in c["people"])) for c in spec["clips"]]
    lines = [tuple(line["text"] for line in c["lines"]) for c in spec["clips"]]
    assert len(set(people)) == 40 and len(set(lines)) == 40
    assert len({p["side"] for c in spec["clips"] for p in c["people"]}) == 4  # all four positions occur


def test_no_media_readers_stay_near_chance_in_each_target_group(built40) -> None:
    out, report, _ = built40
    rows = _rows(out / "release")
    blind = {r["id"]: r["blind_answer"] for r in iter_records(out / "stages" / "rationale.jsonl")}
    for group, tasks in GATED.items():
        members = [r for r in rows if r["task_type"] in tasks]
        assert len(members) >= 20, group
        for name, baseline in BASELINES.items():
            accuracy = sum(baseline(r) == r["answer"] for r in members) / len(members)
            assert accuracy <= 0.40, (group, name, accuracy)
        assert sum(blind[r["id"]] == r["answer"] for r in members) / len(members) <= 0.40, group
    assert report["shortcut_audit"]["passed"]


def test_answer_letters_are_balanced(built40) -> None:
    rows = _rows(built40[0] / "release")
    for task in crossomni.TASK_NAMES:
        letters = Counter(r["answer"] for r in rows if r["task_type"] == task)
        assert max(letters.values()) / sum(letters.values()) <= 0.35, (task, letters)
    overall = Counter(r["answer"] for r in rows)
    assert max(overall.values()) / len(rows) <= 0.35


def test_report_numbers_equal_a_recomputation_from_the_release(built40) -> None:
    out, _, _ = built40
    audit = json.loads((out / "report.json").read_text())["shortcut_audit"]
    assert audit == json.loads((out / "release" / "release.json").read_text())["shortcut_audit"]
    rows = _rows(out / "release")
    blind = {r["id"]: r["blind_answer"] for r in iter_records(out / "stages" / "rationale.jsonl")}
    readers = {**BASELINES, "blind_model": lambda row: blind[row["id"]]}
    for task in crossomni.TASK_NAMES:
        members = [r for r in rows if r["task_type"] == task]
        entry = audit["per_task"][task]
        assert entry["n"] == len(members)
        for name, reader in readers.items():
            assert entry["accuracy"][name] == pytest.approx(
                sum(reader(r) == r["answer"] for r in members) / len(members), abs=1e-4
            ), (task, name)
        assert entry["answer_letters"] == {x: sum(r["answer"] == x for r in members) for x in crossomni.LETTERS}
    for group, tasks in GATED.items():
        members = [r for r in rows if r["task_type"] in tasks]
        assert audit["groups"][group]["n"] == len(members)
        blind_hits = sum(blind[r["id"]] == r["answer"] for r in members)
        assert audit["groups"][group]["accuracy"]["blind_model"] == pytest.approx(blind_hits / len(members), abs=1e-4)
    table = (out / "report.md").read_text()
    assert "## Shortcut audit" in table and "| **audio_vision target** | gated |" in table


def test_released_instances_follow_the_text_rules(built40) -> None:
    out, _, _ = built40
    aligned = {r["clip_id"]: AlignedClip.model_validate(r) for r in iter_records(out / "stages" / "align.jsonl")}
    for row in _rows(out / "release"):
        clip = aligned[row["clip_id"]]
        task = crossomni.TASKS[row["task_type"]]
        for person in clip.people:  # pants, positions and voices never reach the text
            assert not written_in(f"{person.appearance.pants} pants", row["biography"])
        if task.target == "text":
            assert all(written_in(o, row["biography"]) for o in row["options"]), row["id"]
        else:
            assert not any(written_in(o, row["biography"]) for o in row["options"]), row["id"]
        assert row["referent"] in {p.name for p in clip.people}  # decoys are never the referent
        if len(clip.people) == 2:
            assert len(clip.decoys) == 2 and all(d.name in row["biography"] for d in clip.decoys)


def test_the_reader_that_solved_the_old_releases_is_at_chance_now(built40) -> None:
    """A biography parser solved every vision instance of the old release (shirt in the question,
    pants in the biography); on the new build it finds nothing to read."""
    old = "Joey: Joey is usually seen in a green shirt and black pants.\nRachel: Rachel is usually seen in a red shirt."
    assert read_answer(old, "What colour are the pants of the person in the green shirt?", ["red", "black"]) == "B"
    rows = [r for r in _rows(built40[0] / "release") if r["task_type"] == "vision"]
    hits = sum(read_answer(r["biography"], r["question"], r["options"]) == r["answer"] for r in rows)
    assert hits / len(rows) <= 0.40


def test_audit_gate_fails_the_build_and_keeps_the_report(sample_tvqa_root, tmp_path) -> None:
    out = tmp_path / "build"
    result = CliRunner().invoke(
        app,
        ["build", "--sample", "--tvqa-root", str(sample_tvqa_root), "--out", str(out), "--no-progress",
         "--max-shortcut-accuracy", "0.2"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "shortcut audit failed: audio_vision-target questions (n=24)" in result.output
    audit = json.loads((out / "report.json").read_text())["shortcut_audit"]
    assert not audit["passed"] and not audit["groups"]["text"]["gated"]  # 8 text-target instances: too few
    assert "**Failed:**" in (out / "report.md").read_text()


def test_eval_baselines_on_an_exported_split(sample_release, sample_tvqa_root, tmp_path) -> None:
    from builder.export import export_release

    export_release(sample_release, tmp_path / "export", tvqa_root=sample_tvqa_root)
    result = CliRunner().invoke(app, ["eval", "--baselines", "--dataset", str(tmp_path / "export"), "--split", "test"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (sample_release / "test.jsonl").open()]
    first = sum(r["answer"] == "A" for r in rows) / len(rows)
    overall = next(line for line in result.output.splitlines() if line.startswith("| overall |"))
    assert overall.split("|")[3].strip() == f"{100 * first:.1f}"
