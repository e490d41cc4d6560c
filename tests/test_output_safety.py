"""No output command deletes or writes over what it did not write (``model_calls.outputs``).

Per command (export, export-metric, build, eval, media, sample, eval compare, train, review): a user's
folder is refused in one line and every file in it survives byte for byte; the command's own folder is
written again; ``--overwrite`` is refused for the command's inputs (the release, the TVQA or media root,
the dataset, the model) and any folder holding them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from model_calls.outputs import (
    MARKER,
    OutputFolderError,
    check_output_dir,
    claim_output_dir,
    read_marker,
    replace_output_dir,
)
from tests.helpers.cli import invoke


def user_folder(path: Path) -> dict[Path, bytes]:
    """A folder of the user's (a thesis, with a file named like one of ours); returns its files' bytes."""
    files = {
        path / "thesis.tex": b"\\chapter{CrossOmni}",
        path / "README.md": b"my notes, not a dataset card",
        path / "data" / "results.csv": b"a,b\n1,2\n",
    }
    for file, data in files.items():
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(data)
    return files


def intact(files: dict[Path, bytes]) -> bool:
    return all(path.is_file() and path.read_bytes() == data for path, data in files.items())


def refused(result, *phrases: str) -> None:
    """Exit 1 or 2, no traceback, a short message naming the folder."""
    output = result.output
    assert result.exit_code in (1, 2), output
    assert "Traceback" not in output and len(output.strip().splitlines()) <= 5, output
    for phrase in phrases:
        assert phrase in " ".join(output.split()), output


# --- the helper ------------------------------------------------------------------------------------


def test_a_new_or_empty_folder_is_claimed_and_a_users_folder_refused(tmp_path: Path) -> None:
    claim_output_dir(tmp_path / "new" / "run", "eval")
    assert read_marker(tmp_path / "new" / "run")["command"] == "eval"
    (tmp_path / "empty").mkdir()
    claim_output_dir(tmp_path / "empty", "eval")
    claim_output_dir(tmp_path / "empty", "eval")  # its own folder, again
    files = user_folder(tmp_path / "mine")
    with pytest.raises(OutputFolderError, match=r"did not write \(e\.g\. README\.md\).*--overwrite"):
        claim_output_dir(tmp_path / "mine", "eval")
    with pytest.raises(OutputFolderError, match="written by crossomni eval"):
        claim_output_dir(tmp_path / "empty", "build")  # another command's folder
    assert intact(files) and not (tmp_path / "mine" / MARKER).exists()
    claim_output_dir(tmp_path / "mine", "eval", overwrite=True)  # adds files, never deletes
    assert intact(files)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputFolderError, match="is a file, not a folder"):
        claim_output_dir(tmp_path / "file", "eval", overwrite=True)


def test_a_broken_or_forged_looking_marker_is_not_ours(tmp_path: Path) -> None:
    for content in (b"", b"[]", b'{"command": 3}', b"\xff\xfe", b"{" * 10_000, b'"export"'):
        folder = tmp_path / f"m{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        (folder / MARKER).write_bytes(content)
        with pytest.raises(OutputFolderError, match="did not write"):
            check_output_dir(folder, "export", replace=True)
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / MARKER).symlink_to(tmp_path / "m0" / MARKER)
    assert read_marker(linked) is None


def test_replace_swaps_in_a_new_folder_and_deletes_only_what_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "export"
    with replace_output_dir(out, "export") as staging:
        (staging / "data").mkdir()
        (staging / "data" / "a.parquet").write_text("1")
    assert read_marker(out)["files"] == ["data/a.parquet"] and not list(tmp_path.glob("export.partial*"))
    with replace_output_dir(out, "export") as staging:  # its own folder: replaced
        (staging / "b.parquet").write_text("2")
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == [MARKER, "b.parquet"]
    (out / "my_notes.txt").write_text("the user's")  # added to the export by the user: not ours to delete
    with pytest.raises(OutputFolderError, match=r"did not write \(e\.g\. my_notes\.txt\)"):
        with replace_output_dir(out, "export"):
            raise AssertionError("never reached")
    assert (out / "my_notes.txt").read_text() == "the user's"
    with pytest.raises(RuntimeError), replace_output_dir(out, "export", overwrite=True) as staging:
        (staging / "half.parquet").write_text("x")
        raise RuntimeError("the export failed half-way")
    assert (out / "my_notes.txt").is_file() and (out / "b.parquet").is_file()  # left as it was
    assert not list(tmp_path.glob("export.partial*"))  # the staging folder it made is gone


def test_a_partial_folder_that_was_there_is_never_wiped(tmp_path: Path) -> None:
    files = user_folder(tmp_path / "crossomni.partial")
    leftover = tmp_path / "crossomni.partial-killed"  # what a run of ours killed mid-write leaves
    leftover.mkdir()
    (leftover / MARKER).write_text(json.dumps({"command": "export", "partial": True}))
    with replace_output_dir(tmp_path / "crossomni", "export") as staging:
        assert staging.parent == tmp_path and staging.name.startswith("crossomni.partial-")
        assert staging not in (tmp_path / "crossomni.partial", leftover)
        (staging / "y").write_text("y")
    assert sorted(p.name for p in (tmp_path / "crossomni").iterdir()) == [MARKER, "y"]
    assert intact(files) and (leftover / MARKER).is_file()  # neither is this run's to delete
    assert oct((tmp_path / "crossomni").stat().st_mode & 0o777) == oct(0o777 & ~_umask())  # not mkdtemp's 0700


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_overwrite_never_reaches_an_input_or_a_folder_holding_one(tmp_path: Path, monkeypatch) -> None:
    release = tmp_path / "work" / "release"
    release.mkdir(parents=True)
    (release / "release.json").write_text("{}")
    protected = {"the release": release}
    for out in (release, tmp_path / "work", tmp_path):
        with pytest.raises(OutputFolderError, match=r"even with --overwrite: it (is|contains) the release"):
            check_output_dir(out, "export", overwrite=True, protected=protected, replace=True)
    monkeypatch.chdir(tmp_path / "work")
    with pytest.raises(OutputFolderError, match="the working directory"):
        check_output_dir(".", "export", overwrite=True, replace=True)
    with pytest.raises(OutputFolderError, match="refused even with --overwrite: it contains"):
        check_output_dir("/", "eval", overwrite=True)
    (tmp_path / "link").symlink_to(release)  # a link to an input is the input
    with pytest.raises(OutputFolderError, match="it is the release"):
        check_output_dir(tmp_path / "link", "eval", overwrite=True, protected=protected)


# --- per command ---------------------------------------------------------------------------------


def test_export_refuses_a_users_folder_and_overwrite_refuses_the_inputs(
    sample_release: Path, sample_tvqa_root: Path, tmp_path: Path
) -> None:
    release = Path(shutil.copytree(sample_release, tmp_path / "build" / "release"))
    release_files = {path: path.read_bytes() for path in release.rglob("*") if path.is_file()}
    files = user_folder(tmp_path / "thesis")
    refused(invoke(["export", str(release), "--out", str(tmp_path / "thesis")]), "did not write")
    assert intact(files) and not list(tmp_path.glob("thesis.partial*"))
    partial = user_folder(tmp_path / "new.partial")  # was wiped by every export to new/
    assert invoke(["export", str(release), "--out", str(tmp_path / "new")]).exit_code == 0
    assert intact(partial) and not list(tmp_path.glob("new.partial-*"))
    for out, what in (
        (release, "is the release"),
        (tmp_path / "build", "contains the release"),
        (sample_tvqa_root, "is the media root"),
        (sample_tvqa_root.parent, "contains the"),
    ):
        args = ["export", str(release), "--out", str(out), "--overwrite", "--tvqa-root", str(sample_tvqa_root)]
        refused(invoke(args), what)
    assert release_files == {path: path.read_bytes() for path in release.rglob("*") if path.is_file()}
    out = tmp_path / "crossomni"
    for _ in range(2):  # its own export: replaced
        assert invoke(["export", str(release), "--out", str(out)]).exit_code == 0
    assert (out / "README.md").is_file() and read_marker(out)["command"] == "export"
    assert invoke(["export", str(release), "--out", str(tmp_path / "thesis"), "--overwrite"]).exit_code == 0
    assert not (tmp_path / "thesis" / "thesis.tex").exists()  # asked for: replaced


def test_export_metric_refuses_a_users_folder_and_its_own_source(tmp_path: Path) -> None:
    files = user_folder(tmp_path / "mine")
    refused(invoke(["export-metric", "--out", str(tmp_path / "mine")]), "did not write")
    assert intact(files)
    repo = Path(__file__).resolve().parents[1]
    for out in (repo / "evaluation" / "crossomni_acc", repo / "evaluation"):
        refused(invoke(["export-metric", "--out", str(out), "--overwrite"]), "the metric's source")
    assert (repo / "evaluation" / "crossomni_acc" / "crossomni_acc.py").is_file()
    for _ in range(2):
        assert invoke(["export-metric", "--out", str(tmp_path / "metric")]).exit_code == 0
    assert (tmp_path / "metric" / "crossomni_acc.py").is_file()


def test_build_refuses_a_users_folder_before_writing_anything(sample_tvqa_root: Path, tmp_path: Path) -> None:
    files = user_folder(tmp_path / "mine")
    refused(invoke(["build", "--sample", "--out", str(tmp_path / "mine")]), "did not write")
    assert intact(files) and sorted(p.name for p in (tmp_path / "mine").iterdir()) == [
        "README.md",
        "data",
        "thesis.tex",
    ]
    args = ["build", "--tvqa-root", str(sample_tvqa_root), "--out", str(tmp_path / "mine"), "--no-progress"]
    refused(invoke(args), "did not write")
    inside = ["build", "--tvqa-root", str(sample_tvqa_root), "--out", str(sample_tvqa_root.parent), "--overwrite"]
    refused(invoke(inside), "contains the TVQA root")
    # the sample generator never writes its TVQA files over a user's folder either
    refused(invoke(["sample", "--out", str(tmp_path / "mine")]), "did not write")
    assert intact(files)


def test_inspect_json_replaces_only_a_report_inspect_wrote(sample_tvqa_root: Path, tmp_path: Path) -> None:
    mine = tmp_path / "notes.json"
    mine.write_text('{"my": "notes"}', encoding="utf-8")
    args = ["inspect", "--tvqa-root", str(sample_tvqa_root)]
    refused(invoke([*args, "--json", str(mine)]), "did not write it")
    assert json.loads(mine.read_text(encoding="utf-8")) == {"my": "notes"}
    refused(invoke([*args, "--json", str(tmp_path)]), "is a folder")
    report = tmp_path / "report.json"
    for _ in range(2):  # its own report is replaced, run after run
        assert invoke([*args, "--json", str(report)]).exit_code == 0
    written = json.loads(report.read_text(encoding="utf-8"))
    assert written["written_by"] == "crossomni inspect" and written["usable"] > 0
    assert invoke([*args, "--json", str(mine), "--overwrite"]).exit_code == 0
    assert json.loads(mine.read_text(encoding="utf-8"))["written_by"] == "crossomni inspect"


def test_eval_compare_and_lmms_tasks_refuse_a_users_folder(sample_release: Path, tmp_path: Path) -> None:
    files = user_folder(tmp_path / "mine")
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "README.md").write_text("a dataset card")
    replay = ["--backend", "replay", "--backend-option", f"path={tmp_path / 'replies.jsonl'}"]
    base = ["eval", "--model", "tiny", *replay, "--dataset", str(dataset), "--quiet"]
    refused(invoke([*base, "--out", str(tmp_path / "mine")]), "did not write")
    refused(invoke([*base, "--out", str(dataset), "--overwrite"]), "is the dataset")
    refused(invoke([*base, "--out", str(tmp_path), "--overwrite"]), "contains the dataset")
    refused(invoke(["eval", "compare", str(tmp_path / "run"), "--out", str(tmp_path / "mine")]))
    # lmms-eval reads every YAML of its task folder: never written into a folder of the user's either
    refused(invoke(["lmms-tasks", "--dataset", str(dataset), "--out", str(tmp_path / "mine")]), "did not write")
    assert intact(files)


def test_media_refuses_a_users_folder(sample_release: Path, tmp_path: Path) -> None:
    release = Path(shutil.copytree(sample_release, tmp_path / "release"))
    manifest = json.loads((release / "release.json").read_text())
    (release / "release.json").write_text(json.dumps({**manifest, "media_root": "derived"}))
    tvqa = tmp_path / "tvqa"
    files = user_folder(tmp_path / "mine") | user_folder(tvqa)
    args = ["media", "--release", str(release), "--tvqa-root", str(tvqa)]
    refused(invoke([*args, "--out", str(tmp_path / "mine")]), "did not write")
    refused(invoke([*args, "--out", str(tvqa), "--overwrite"]), "is the TVQA root")
    refused(invoke([*args, "--out", str(tmp_path), "--overwrite"]), "contains the release")
    assert intact(files)


def test_train_refuses_a_users_output_dir_before_loading_anything(tmp_path: Path) -> None:
    files = user_folder(tmp_path / "mine")
    cpu = ["--bf16", "false", "--use_cpu", "true", "--dtype", "float32"]
    args = ["train", "sft", "--config", "sft_qwen2.5-omni-3b", *cpu, "--model_name_or_path", str(tmp_path / "base")]
    refused(invoke([*args, "--output_dir", str(tmp_path / "mine")]), "did not write", "--overwrite_output_dir true")
    (tmp_path / "base").mkdir()
    inside = [*args, "--output_dir", str(tmp_path), "--overwrite_output_dir", "true"]
    refused(invoke(inside), "contains the base model")
    assert intact(files)


def test_review_adds_decisions_and_touches_nothing_else(
    sample_release: Path, sample_tvqa_root: Path, tmp_path: Path
) -> None:
    from builder.review.app import ReviewApp
    from builder.review.decisions import review_path

    release = Path(shutil.copytree(sample_release, tmp_path / "release"))
    files = user_folder(release)  # the user's notes beside the release files
    earlier = '{"id": "x", "decision": "accept", "reason": "", "reviewed_at": "2026-01-01T00:00:00+00:00"}\n'
    review_path(release).write_text(earlier)
    before = {path: path.read_bytes() for path in release.rglob("*") if path.is_file() and path.name != "review.jsonl"}
    page = ReviewApp(release, sample_tvqa_root)
    first = page.instances[0]["id"]
    page.api_post("decide", {"id": first, "decision": "reject", "reason": "two people fit"})
    assert review_path(release).read_text().startswith(earlier)  # appended, never rewritten
    assert before == {path: path.read_bytes() for path in release.rglob("*") if path.is_file() and path in before}
    assert intact(files)
