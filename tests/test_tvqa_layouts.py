"""TVQA roots as distributed — today's (flat data/, the preprocessed subtitle jsonl, 3 fps frames,
audio per show) and the old tarball's (.srt per clip) — through `crossomni inspect`,
`crossomni build --until preprocess`, a whole build, export and `crossomni media`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import crossomni
from builder.config import BuildConfig
from builder.stages.preprocess import clip_items
from crossomni_cli import app
from model_calls.outputs import MARKER
from model_calls.store import iter_records
from tests.helpers.tvqa_layouts import EVIL_CLIP, HOUSE_CLIP, make_legacy_root, make_today_root

RUNNER = CliRunner(env={"COLUMNS": "250"})


def flat(output: str) -> str:
    return re.sub(r"[\s│╭╮╰╯─]+", " ", output)


@pytest.fixture(scope="module")
def today(sample_tvqa_root: Path, tmp_path_factory: pytest.TempPathFactory):
    return make_today_root(sample_tvqa_root, tmp_path_factory.mktemp("today") / "tvqa")


@pytest.fixture(scope="module")
def legacy(sample_tvqa_root: Path, tmp_path_factory: pytest.TempPathFactory):
    return make_legacy_root(sample_tvqa_root, tmp_path_factory.mktemp("legacy") / "tvqa")


@pytest.fixture(params=["today", "legacy"])
def facts(request):
    return request.getfixturevalue(request.param)


def test_inspect_finds_every_usable_clip(facts, tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["inspect", "--tvqa-root", str(facts.root), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["usable"] == len(facts.usable)
    assert sum(c["in_qa"] for c in report["per_show"].values()) == len(facts.usable) + len(facts.unusable)
    assert sum(c["named_speakers"] for c in report["per_show"].values()) == len(facts.usable) + (
        "grey_s03e05_seg01_clip_04" in facts.unusable
    )
    wanted: dict[str, list[str]] = {}
    for clip, reason in facts.unusable.items():
        wanted.setdefault(reason, []).append(clip)
    assert {r: v["count"] for r, v in report["reasons"].items()} == {r: len(c) for r, c in wanted.items()}
    for reason, clips in wanted.items():
        assert set(report["reasons"][reason]["examples"]) <= set(clips)
    assert f"{len(facts.usable)} usable clips" in result.output


def test_inspect_names_today_layout(today, tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["inspect", "--tvqa-root", str(today.root), "--json", str(tmp_path / "r.json")])
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["qa_source"].startswith("data/")
    assert report["qa_files"] == ["tvqa_test_public.jsonl", "tvqa_train.jsonl", "tvqa_val.jsonl"]
    assert report["not_qa_files"] == ["data/tvqa_preprocessed_subtitles.jsonl"]  # beside them, never read as QA
    assert report["bad_qa_lines"] == 0
    # 4 sample clips + house + grey have a line in the jsonl (met's has no names but is there)
    assert report["layout"]["subtitles"] == {"data/tvqa_preprocessed_subtitles.jsonl": 7}
    assert report["layout"]["audio"] == {
        "audios/{show}/{show}_audios/{vid_name}.mp3": 2,
        "audios/{show}/{show}_audios/{vid_name}.m4a": 2,
        "audios/{show}/{show}_audios/{vid_name}.wav": 1,
        "audios/bbt_new/bbt_audios/{vid_name}.mp3": 1,
    }
    assert report["layout"]["frames"] == {"frames_hq/{show}_frames/{vid_name}": 7}
    assert report["layout"]["video"] == {}
    met = report["per_show"]["How I Met You Mother"]
    assert (met["in_qa"], met["subtitles"], met["named_speakers"], met["frames"], met["audio"], met["usable"]) == (
        1,
        1,
        0,
        1,
        1,
        0,
    )
    assert "unsafe-vid-name: 1 (e.g. ../../evil/x)" in result.output


def test_build_until_preprocess_reads_every_usable_clip(facts, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["build", "--tvqa-root", str(facts.root), "--out", str(out), "--until", "preprocess", "--no-progress"]
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"stopped after preprocess: {len(facts.usable)} kept" in result.output
    kept = {r["clip_id"]: r for r in iter_records(out / "stages" / "preprocess.jsonl")}
    assert {c: {s["speaker"] for s in r["segments"] if s["speaker"]} for c, r in kept.items()} == facts.usable
    reasons = {r["id"]: r["reason"] for r in iter_records(out / "stages" / "preprocess.rejects.jsonl")}
    assert reasons == facts.unusable
    assert not (out / "stages" / "caption.done.json").exists() and not (out / "release").exists()
    assert "stopped after stage **preprocess**" in (out / "report.md").read_text()
    # nothing was read outside the root for the ../../evil clip
    assert not (facts.root.parent.parent / "evil").exists()


def test_the_jsonl_conventions_reach_the_segments(today, tmp_path: Path) -> None:
    out = tmp_path / "out"
    RUNNER.invoke(app, ["build", "--tvqa-root", str(today.root), "--out", str(out), "--until", "preprocess"])
    house = next(r for r in iter_records(out / "stages" / "preprocess.jsonl") if r["clip_id"] == HOUSE_CLIP)
    segments = [(s["speaker"], s["speaker_raw"], s["off_screen"], s["text"]) for s in house["segments"]]
    assert segments == [
        ("Wilson", "Wilson", False, "The scan came back clean ."),
        ("Cuddy", "Cuddy off", True, "Then why is he still here ?"),
        (None, None, False, "Nobody answered the page ."),  # kept in the transcript, no speaker
        ("Wilson", "WILSON", False, "Because I asked him to stay ."),
    ]
    assert house["media"] == "derived" and (out / "media" / f"{HOUSE_CLIP}.mp4").is_file()
    assert house["show"] == "House M.D."


def test_legacy_srt_encodings_are_recorded(legacy, tmp_path: Path) -> None:
    out = tmp_path / "out"
    RUNNER.invoke(app, ["build", "--tvqa-root", str(legacy.root), "--out", str(out), "--until", "preprocess"])
    encodings = {r["clip_id"]: r["subtitle_encoding"] for r in iter_records(out / "stages" / "preprocess.jsonl")}
    assert encodings == {
        "friends_s01e01_seg02_clip_14": "utf-8",  # ASCII: valid UTF-8 whatever it was written as
        "castle_s01e01_seg02_clip_00": "latin-1",  # "café" in ISO-8859-1
        "friends_s01e02_seg01_clip_03": "utf-16",  # found by its BOM after utf-8 and latin-1
        "s01e01_seg01_clip_00": "utf-8",
    }
    castle = next(r for r in iter_records(out / "stages" / "preprocess.jsonl") if r["media"] == "reference")
    assert castle["video"].startswith("videos/")


@pytest.mark.parametrize("spelling", ["How I Met Your Mother", "How I Met You Mother", "met", "MET"])
def test_every_spelling_of_a_show_selects_it(today, tmp_path: Path, spelling: str) -> None:
    config = BuildConfig(tvqa_root=today.root, out=tmp_path, shows=(spelling,))
    assert [vid for vid, _ in clip_items(config)] == ["met_s06e22_seg01_clip_02"]


def test_unknown_show_lists_the_known_ones(today, tmp_path: Path) -> None:
    for command in ("build", "inspect"):
        args = [command, "--tvqa-root", str(today.root), "--show", "Seinfeld"]
        result = RUNNER.invoke(app, args + (["--out", str(tmp_path)] if command == "build" else []))
        text = flat(result.output)
        assert result.exit_code != 0 and "unknown show 'Seinfeld'" in text and "met (How I Met Your Mother)" in text


def test_nothing_usable_exits_non_zero_with_counts_and_reasons(today, tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["inspect", "--tvqa-root", str(today.root), "--show", "met"])
    assert result.exit_code == 1 and "no usable clip" in result.output
    out = tmp_path / "out"
    result = RUNNER.invoke(app, ["build", "--tvqa-root", str(today.root), "--out", str(out), "--show", "met"])
    assert result.exit_code == 1, result.output
    assert "the release is empty" in result.output and "preprocess 0/1" in result.output
    assert "preprocess: no-speaker-names × 1 (e.g. met_s06e22_seg01_clip_02)" in result.output
    report = json.loads((out / "report.json").read_text())  # written before the exit
    assert report["release"]["train"] == 0 and report["drops"][0]["reason"] == "no-speaker-names"


def test_a_root_without_qa_files_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tvqa_preprocessed_subtitles.jsonl").write_text('{"vid_name": "x", "sub": []}\n')
    for command in ("build", "inspect"):
        extra = ["--out", str(tmp_path / "out")] if command == "build" else []
        result = RUNNER.invoke(app, [command, "--tvqa-root", str(tmp_path), *extra])
        text = flat(result.output)
        assert result.exit_code != 0 and "no TVQA QA files under" in text, result.output
        assert "not QA (no q/a0/vid_name keys): tvqa_preprocessed_subtitles.jsonl" in text
        assert "Traceback" not in result.output


def test_layout_file_with_a_per_show_override(today, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "tvqa"
    shutil.copytree(today.root, root)
    (root / "audios" / "friends").rename(root / "friends_sound")
    layout = tmp_path / "layout.yaml"
    layout.write_text("shows:\n  Friends:\n    audio: friends_sound/friends_audios/{vid_name}.mp3\n")
    before = RUNNER.invoke(app, ["inspect", "--tvqa-root", str(root)])
    after = RUNNER.invoke(app, ["inspect", "--tvqa-root", str(root), "--layout-file", str(layout)])
    assert f"{len(today.usable) - 2} usable clips" in before.output
    assert f"{len(today.usable)} usable clips" in after.output, after.output
    layout.write_text("shows:\n  Seinfeld: {audio: 'x/{vid_name}.mp3'}\n")
    bad = RUNNER.invoke(app, ["inspect", "--tvqa-root", str(root), "--layout-file", str(layout)])
    assert bad.exit_code != 0 and "unknown show 'Seinfeld'" in flat(bad.output)
    layout.write_text("defaults:\n  audio: ../outside/{vid_name}.mp3\n")
    bad = RUNNER.invoke(app, ["inspect", "--tvqa-root", str(root), "--layout-file", str(layout)])
    assert bad.exit_code != 0 and "must stay inside the TVQA root" in flat(bad.output)


@pytest.mark.slow
def test_whole_build_of_today_root_exports_no_tvqa_bytes(today, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = RUNNER.invoke(app, ["build", "--tvqa-root", str(today.root), "--out", str(out), "--backend", "replay"])
    assert result.exit_code == 0, result.output
    release = out / "release"
    manifest = crossomni.read_release_manifest(release)
    assert (manifest["media"], manifest["media_root"]) == ("reference", "derived")
    clips = crossomni.read_clips(release)
    assert set(clips) == set(today.usable) - {HOUSE_CLIP}  # the house clip has no recorded replies
    exported = tmp_path / "export"
    result = RUNNER.invoke(app, ["export", str(release), "--out", str(exported), "--media-root", str(out / "media")])
    assert result.exit_code == 0, result.output
    for shard in exported.glob("data/*/*.parquet"):
        table = pq.read_table(shard, columns=["video", "audio"]).to_pylist()
        assert all(row[c]["bytes"] is None and "/" not in row[c]["path"] for row in table for c in ("video", "audio"))
    card = (exported / "README.md").read_text()
    assert "crossomni media --release" in card and "derived media root" in card
    # a user regenerates the media root from their own TVQA copy
    media = tmp_path / "my_media"
    result = RUNNER.invoke(
        app, ["media", "--release", str(release), "--tvqa-root", str(today.root), "--out", str(media)]
    )
    assert result.exit_code == 0 and f"{len(clips)} clips written" in result.output, result.output
    from builder.tvqa import probe_duration

    for clip in clips.values():
        assert abs(probe_duration(media / clip.video) - clip.duration) < 0.2
    from datasets import load_dataset

    ds = crossomni.resolve_media(load_dataset(str(exported), "vision", split="test"), media)
    assert len(ds) > 0 and ds[0]["video"].metadata.num_frames > 0


def test_the_derived_release_needs_its_media_root(today, tmp_path: Path) -> None:
    release = tmp_path / "release"
    release.mkdir()
    (release / "release.json").write_text(
        json.dumps({"format": "crossomni-release", "version": 1, "media": "reference", "media_root": "derived"})
    )
    with pytest.raises(crossomni.ReleaseError, match="crossomni media --release"):
        crossomni.media_root(release, None)
    assert EVIL_CLIP in today.unusable


def test_an_off_screen_speaker_is_never_described_from_frames(today, tmp_path: Path) -> None:
    from builder.records import Caption, CaptionedClip
    from builder.stages.describe import DescribeStage

    config = BuildConfig(tvqa_root=today.root, out=tmp_path / "out", progress=False)
    from builder.pipeline import run_build

    run_build(config, until="preprocess")
    house = next(r for r in iter_records(config.stages_dir / "preprocess.jsonl") if r["clip_id"] == HOUSE_CLIP)
    captions = [Caption(segment=s["index"], text="two people talk in an office") for s in house["segments"]]
    clip = CaptionedClip(**house, captions=captions, clip_description=Caption(segment=-1, text="an office"))
    requests = DescribeStage(config).requests(clip.model_dump())
    described = [(r.metadata["segment"], r.metadata["speaker"]) for r in requests if r.metadata["prompt"] == "person"]
    assert described == [(0, "Wilson"), (3, "Wilson")]  # not Cuddy (off screen), not the unnamed line


def test_each_clip_failure_is_a_recorded_reject(today, tmp_path: Path, monkeypatch) -> None:
    import shutil

    from builder.pipeline import run_build
    from builder.stages import preprocess

    root = tmp_path / "tvqa"
    shutil.copytree(today.root, root)
    with open(root / "data" / "tvqa_val.jsonl", "a", encoding="utf-8") as handle:
        handle.write("[" * 100_000 + "]" * 100_000 + "\n")
        handle.write(
            json.dumps(
                {
                    **json.loads((root / "data" / "tvqa_val.jsonl").open().readline()),
                    "vid_name": "castle_s09e09_seg01_clip_01",
                }
            )
            + "\n"
        )
    with open(root / "data" / "tvqa_preprocessed_subtitles.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"vid_name": "castle_s09e09_seg01_clip_01", "sub": ' + "[" * 100_000 + "\n")
    real = preprocess.probe_duration

    def overflowing(path: Path) -> float:
        if "s01e01_seg01_clip_00" in str(path):
            raise OverflowError("cannot convert float infinity to integer")
        return real(path)

    monkeypatch.setattr(preprocess, "probe_duration", overflowing)
    config = BuildConfig(tvqa_root=root, out=tmp_path / "out", progress=False)
    report = run_build(config, until="preprocess")
    rejects = {r["id"]: r for r in iter_records(config.stages_dir / "preprocess.rejects.jsonl")}
    assert rejects["s01e01_seg01_clip_00"]["reason"] == "input-error"
    assert "OverflowError: cannot convert" in rejects["s01e01_seg01_clip_00"]["detail"]
    assert rejects["castle_s09e09_seg01_clip_01"]["reason"] == "bad-subtitles"
    assert "not readable JSON (RecursionError)" in rejects["castle_s09e09_seg01_clip_01"]["detail"]
    bad_line = [r for r in rejects.values() if r["reason"] == "bad-qa-line"]
    assert len(bad_line) == 1 and "not readable JSON (RecursionError)" in bad_line[0]["detail"]
    assert report["stages"][0]["outputs"] == len(today.usable) - 1  # every other clip still read


def test_frames_and_audio_of_different_lengths_are_not_muxed(today, tmp_path: Path) -> None:
    import shutil

    from builder.pipeline import run_build

    root = tmp_path / "tvqa"
    shutil.copytree(today.root, root)
    frames = sorted((root / "frames_hq" / "friends_frames" / "friends_s01e01_seg02_clip_14").iterdir())
    for frame in frames[12:]:  # 4 s of frames left for 8 s of audio
        frame.unlink()
    config = BuildConfig(tvqa_root=root, out=tmp_path / "out", progress=False)
    run_build(config, until="preprocess")
    rejects = {r["id"]: r for r in iter_records(config.stages_dir / "preprocess.rejects.jsonl")}
    assert rejects["friends_s01e01_seg02_clip_14"]["reason"] == "media-mismatch"
    assert (
        "12 frames at 3 fps = 4.00s, but friends_s01e01_seg02_clip_14.mp3 is 8."
        in (rejects["friends_s01e01_seg02_clip_14"]["detail"])
    )
    assert not (config.media_dir / "friends_s01e01_seg02_clip_14.mp4").exists()


def test_media_command_regenerates_a_derived_root_and_names_what_it_cannot(today, sample_release, tmp_path) -> None:
    release = tmp_path / "release"
    release.mkdir()
    manifest = {"format": "crossomni-release", "version": 1, "media": "reference", "media_root": "derived"}
    (release / "release.json").write_text(json.dumps(manifest))
    clips = [
        ("s01e01_seg01_clip_00", "s01e01_seg01_clip_00.mp4", 8.0),  # frames + bbt_new/ mp3
        ("friends_s09e09_seg01_clip_01", "friends_s09e09_seg01_clip_01.mp4", 8.0),  # not in this TVQA copy
        ("friends_s01e02_seg01_clip_03", "friends_s01e02_seg01_clip_03.mp4", 30.0),  # another clip's length
    ]
    (release / "clips.jsonl").write_text(
        "".join(
            json.dumps(
                {"clip_id": c, "show": "x", "episode": c.split("_seg")[0], "video": v, "audio": v, "duration": d}
            )
            + "\n"
            for c, v, d in clips
        )
    )
    out = tmp_path / "media"
    result = RUNNER.invoke(app, ["media", "--release", str(release), "--tvqa-root", str(today.root), "--out", str(out)])
    assert result.exit_code == 1 and "1 clips written" in result.output, result.output
    assert (
        "friends_s09e09_seg01_clip_01: FileNotFoundError: clip friends_s09e09_seg01_clip_01: no media" in result.output
    )
    assert "friends_s01e02_seg01_clip_03: 8." in result.output and "the release says 30.00s" in result.output
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "s01e01_seg01_clip_00.mp4"]  # MARKER: written by media
    again = RUNNER.invoke(app, ["media", "--release", str(release), "--tvqa-root", str(today.root), "--out", str(out)])
    assert "0 clips written, 1 already there" in again.output
    # a release whose clip path leaves the root is refused as a whole, naming the clip and the path
    hostile = {"clip_id": "castle_s01e01_seg02_clip_00", "show": "x", "episode": "castle_s01e01"}
    hostile |= {"video": "../castle_s01e01_seg02_clip_00.mp4", "audio": "../castle_s01e01_seg02_clip_00.mp4"}
    with open(release / "clips.jsonl", "a") as handle:
        handle.write(json.dumps({**hostile, "duration": 8.0}) + "\n")
    escape = RUNNER.invoke(app, ["media", "--release", str(release), "--tvqa-root", str(today.root), "--out", str(out)])
    assert escape.exit_code == 2 and "castle_s01e01_seg02_clip_00" in escape.output and "leaves" in escape.output
    assert not (tmp_path / "castle_s01e01_seg02_clip_00.mp4").exists()
    refused = RUNNER.invoke(
        app, ["media", "--release", str(sample_release), "--tvqa-root", str(today.root), "--out", str(out)]
    )
    assert refused.exit_code != 0 and "nothing to regenerate" in flat(refused.output)


def test_hostile_qa_and_subtitle_lines_of_a_today_root_are_counted_rejects(today, tmp_path: Path, monkeypatch) -> None:
    """A Friends-prefixed line labelled Castle, a blank show, ts with a null, a subtitle line that names
    another clip inside it, and 2,500 malformed QA lines: each is a recorded reject the report counts,
    the clips' other lines still count, every clip gets only its own subtitles, and the malformed lines
    cost a bounded number of completion-log writes."""
    import shutil

    from builder.pipeline import run_build
    from builder.stages.preprocess import BAD_LINES_PER_ITEM
    from model_calls.store import CompletionLog

    root = tmp_path / "tvqa"
    shutil.copytree(today.root, root)
    castle, friends, bbt = "castle_s01e01_seg02_clip_00", "friends_s01e02_seg01_clip_03", "s01e01_seg01_clip_00"
    hostile, nulled = 0, False
    for path in (root / "data").glob("tvqa_*.jsonl"):
        if "subtitles" in path.name:
            continue
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for row in rows:
            if row["vid_name"] == castle:
                row["show_name"] = "Friends"  # contradicts the clip's prefix
            elif row["vid_name"] == friends:
                row["show_name"] = " "
            elif row["vid_name"] == bbt and not nulled:
                row["ts"], nulled = [None, 1], True  # its other lines still name the clip
            else:
                continue
            hostile += 1
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    malformed = 2_500
    with open(root / "data" / "tvqa_train.jsonl", "a", encoding="utf-8") as handle:
        handle.writelines(
            '{"qid": 1, "ts": [null, 1]\n' if n % 2 else json.dumps({"qid": n}) + "\n" for n in range(malformed)
        )
    subtitles = root / "data" / "tvqa_preprocessed_subtitles.jsonl"
    lines = [json.loads(line) for line in subtitles.read_text().splitlines()]
    own = next(line for line in lines if line["vid_name"] == "friends_s01e01_seg02_clip_14")
    lines.remove(own)  # now first, with the house clip's name in a cue before its own
    nested = json.dumps(
        {"sub": [{**own["sub"][0], "vid_name": HOUSE_CLIP}, *own["sub"][1:]], "vid_name": own["vid_name"]}
    )
    subtitles.write_text(nested + "\n" + "".join(json.dumps(line) + "\n" for line in lines))
    writes = []
    real_record = CompletionLog.record
    monkeypatch.setattr(CompletionLog, "record", lambda self, *a: (writes.append(a[0]), real_record(self, *a))[1])

    config = BuildConfig(tvqa_root=root, out=tmp_path / "out", progress=False)
    report = run_build(config, until="preprocess")
    kept = {r["clip_id"]: r for r in iter_records(config.stages_dir / "preprocess.jsonl")}
    assert castle not in kept and friends not in kept and bbt in kept
    assert kept[bbt]["show"] == "The Big Bang Theory"
    assert [s["text"] for s in kept["friends_s01e01_seg02_clip_14"]["segments"]] == [
        " ".join(s["text"].split(" : ", 1)[1].split()) for s in own["sub"]
    ]
    assert [s["speaker"] for s in kept[HOUSE_CLIP]["segments"]] == ["Wilson", "Cuddy", None, "Wilson"]
    rejects = list(iter_records(config.stages_dir / "preprocess.rejects.jsonl"))
    bad_lines = [r for r in rejects if r["reason"] == "bad-qa-line"]
    assert len(bad_lines) == malformed + hostile  # one record per line, each naming its file:line
    assert all(re.fullmatch(r".+\.jsonl:\d+", r["id"]) for r in bad_lines)
    details = " ".join(r["detail"] for r in bad_lines)
    assert "show_name: 'Friends' is Friends, but clip castle_s01e01_seg02_clip_00 is Castle" in details
    assert "show_name: is blank" in details and "ts: start None is not a number" in details
    drop = next(d for d in report["drops"] if d["reason"] == "bad-qa-line")
    assert drop["count"] == malformed + hostile and len(drop["examples"]) == 2  # the report stays short
    bad_items = [w for w in writes if w.startswith("qa-lines:")]
    assert len(bad_items) <= (malformed + hostile) // BAD_LINES_PER_ITEM + 3  # grouped per file, not per line
