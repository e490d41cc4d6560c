"""TVQA readers: QA jsonl, speaker-tagged subtitles (encodings, malformed files), clip media."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from builder.stages.caption import caption_part
from builder.stages.voice import SPAN_GAP
from builder.tvqa import (
    MediaLayout,
    SubtitleError,
    SubtitleIndex,
    iter_qa_files,
    locate_media,
    mux_frames,
    probe_duration,
    read_subtitles,
    show_prefix,
)
from model_calls.media import Segment, part_audio, part_preset, sample_segment
from model_calls.presets import input_preset
from tests.helpers.tvqa_layouts import clip_wav

SRT = """1
00:00:01,000 --> 00:00:02,500
(Sheldon:) That's my spot.

2
00:00:03,000 --> 00:00:04,000
(Penny:) Sorry,
I didn't know.

3
00:00:04,200 --> 00:00:05,000
Nobody knows.
"""


def test_subtitles_split_speaker_tags_and_join_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.srt"
    path.write_text(SRT, encoding="utf-8")
    cues, encoding = read_subtitles(path)
    assert encoding == "utf-8"
    assert [(c.speaker, c.text) for c in cues] == [
        ("Sheldon", "That's my spot."),
        ("Penny", "Sorry, I didn't know."),
        (None, "Nobody knows."),
    ]
    assert (cues[1].start, cues[1].end) == (3.0, 4.0)


def test_subtitles_fall_back_to_latin1(tmp_path: Path) -> None:
    path = tmp_path / "b.srt"
    path.write_bytes("1\n00:00:00,500 --> 00:00:01,000\n(Castle:) Le café.\n".encode("latin-1"))
    cues, encoding = read_subtitles(path)
    assert encoding == "latin-1" and cues[0].text == "Le café."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty subtitle file"),
        ("1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03 -> broken\nx\n", "b.srt:5: malformed SRT cue"),
        # the timestamp line of cue 2 is missing: an error, never cue 1's text
        ("1\n00:00:01,000 --> 00:00:02,000\n(A:) ok\n\n2\n(B:) lost\n", "b.srt:5: malformed SRT cue"),
        ("1\n999999999999:00:00,500 --> 00:00:02,000\nhi\n", "b.srt:1: malformed SRT cue"),
        ("junk first\n1\n00:00:01,000 --> 00:00:02,000\nhi\n", "b.srt:1: malformed SRT cue"),
    ],
)
def test_malformed_subtitles_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "b.srt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SubtitleError, match=message):
        read_subtitles(path)


def test_qa_reader_parses_ts_and_reports_bad_lines(tmp_path: Path) -> None:
    good = {
        "qid": 1,
        "q": "Who?",
        **{f"a{i}": str(i) for i in range(5)},
        "answer_idx": 2,
        "ts": "1.21-8.49",
        "vid_name": "s01e01_seg01_clip_00",
        "show_name": "The Big Bang Theory",
    }
    lines = [
        json.dumps(good),
        json.dumps({**good, "qid": 2, "ts": "NaN-NaN"}),
        json.dumps({k: v for k, v in good.items() if k != "answer_idx"} | {"qid": 3}),  # test_public has no answer
        "{not json",
        json.dumps({**good, "qid": "x"}),
    ]
    (tmp_path / "qa").mkdir()
    (tmp_path / "qa" / "tvqa_val.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = list(iter_qa_files(tmp_path, "qa/tvqa_*.jsonl"))
    questions = [q for q, _ in rows if q is not None]
    errors = [e for _, e in rows if e is not None]
    assert [q.ts for q in questions] == [(1.21, 8.49), None, (1.21, 8.49)]
    assert questions[2].answer_idx is None
    assert errors[0].endswith("tvqa_val.jsonl:4: not valid JSON (Expecting property name enclosed in double quotes)")
    assert errors[1].endswith("tvqa_val.jsonl:5: bad field(s) qid (qid: Input should be a valid integer)")
    with pytest.raises(FileNotFoundError, match="no TVQA QA files"):
        list(iter_qa_files(tmp_path, "nothing/*.jsonl"))
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "qa" / "tvqa_val.jsonl").write_text(json.dumps(good) + "\n" + deep + "\n", encoding="utf-8")
    rows = list(iter_qa_files(tmp_path, "qa/tvqa_*.jsonl"))
    assert rows[0][0] is not None and rows[1][0] is None and "tvqa_val.jsonl:2: not readable JSON" in rows[1][1]


def test_show_prefix() -> None:
    assert show_prefix("friends_s01e01_seg02_clip_14") == "friends"
    assert show_prefix("met_s06e22_seg01_clip_02") == "met"
    assert show_prefix("s01e01_seg01_clip_00") == "bbt"


def test_media_of_the_sample(sample_tvqa_root: Path, tmp_path: Path) -> None:
    vid = "friends_s01e01_seg02_clip_14"
    media = locate_media(sample_tvqa_root, MediaLayout(), vid, "friends")
    assert media.video is not None and abs(probe_duration(media.video) - 8.0) < 0.2
    # a speaker's audio: her cue spans of the clip's own soundtrack, each followed by a short silence
    spans = {"type": "audio", "audio": str(media.video), "spans": [[0.5, 2.9], [5.7, 7.8]], "gap": SPAN_GAP}
    samples = part_audio(spans, 16_000)
    assert samples.dtype == np.float32 and abs(len(samples) / 16_000 - (2.4 + 2.1 + 2 * SPAN_GAP)) < 0.01
    assert np.abs(samples).max() > 0.05  # her speech is in there
    assert not samples[int(2.4 * 16_000) + 10 : int((2.4 + SPAN_GAP) * 16_000) - 10].any()  # the gap is silent
    import decord

    # a caption's frames: the part names the clip and its window; the shared sampler picks the frames
    part = caption_part(str(media.video), input_preset("caption"), 0.5, 4.5, 2)
    sampled = sample_segment(part["video"], Segment.of(part), part_preset(part, input_preset("generic")))
    assert sampled.times == (1.5, 3.5) and sampled.frames.shape == (2, 3, 64, 96) and sampled.audio is None
    source = decord.VideoReader(str(media.video))
    for got, t in zip(sampled.frames.transpose(0, 2, 3, 1), sampled.times, strict=True):
        want = source[int(t * 3)].asnumpy().astype(int)  # the frame shown at t (3 fps)
        assert np.abs(got.astype(int) - want).mean() < 6
    with pytest.raises(FileNotFoundError, match="clip house_s02e05_seg02_clip_07: no media"):
        locate_media(sample_tvqa_root, MediaLayout(), "house_s02e05_seg02_clip_07", "house")


def test_frames_plus_audio_are_muxed_into_a_decodable_mp4(tmp_path: Path) -> None:
    import decord
    import soundfile as sf
    from PIL import Image

    frames = tmp_path / "frames_hq" / "friends_frames" / "friends_s09e09_seg01_clip_01"
    frames.mkdir(parents=True)
    for i in range(6):  # 2 s at TVQA's 3 fps
        Image.fromarray(np.full((48, 64, 3), 40 * i, dtype=np.uint8)).save(frames / f"{i + 1:05d}.jpg")
    (tmp_path / "audio").mkdir()
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(32000) / 16000).astype(np.float32)
    sf.write(tmp_path / "audio" / "friends_s09e09_seg01_clip_01.wav", tone, 16000)
    media = locate_media(tmp_path, MediaLayout(), "friends_s09e09_seg01_clip_01", "friends")
    assert media.is_frames
    out = mux_frames(media.frames, media.audio, tmp_path / "media" / "clip.mp4", fps=3.0)
    reader = decord.VideoReader(str(out))
    assert len(reader) == 6 and abs(reader.get_avg_fps() - 3.0) < 0.01
    assert abs(probe_duration(out) - 2.0) < 0.2
    audio = sf.read(clip_wav(out, tmp_path / "back.wav"))[0]
    assert abs(len(audio) / 16000 - 2.0) < 0.1 and np.abs(audio).max() > 0.1


# --- speaker names, both subtitle forms, adversarial input -----------------------------------------


@pytest.mark.parametrize(
    ("tag", "name", "raw"),
    [
        ("(RACHEL:) Hi.", "Rachel", "RACHEL"),
        ("(Rachel:) Hi.", "Rachel", "Rachel"),
        ("(<i>Rachel</i>:) Hi.", "Rachel", "<i>Rachel</i>"),
        ("(  rachel   green :) Hi.", "Rachel Green", "rachel   green"),
        ("(Dr. McGee:) Hi.", "Dr. McGee", "Dr. McGee"),
    ],
)
def test_srt_speaker_names_are_normalised_and_the_raw_form_kept(tmp_path: Path, tag, name, raw) -> None:
    path = tmp_path / "a.srt"
    path.write_text(f"1\n00:00:01,000 --> 00:00:02,000\n{tag}\n", encoding="utf-8")
    (cue,), _ = read_subtitles(path)
    assert (cue.speaker, cue.speaker_raw, cue.text, cue.off_screen) == (name, raw, "Hi.", False)


def test_jsonl_speakers_off_screen_and_untagged_lines(tmp_path: Path) -> None:
    subs = [
        {"text": " Mrs Wolowitz off : Has she tried on the vest yet ?", "start": 0.5, "end": 2.0},
        {"text": " Howard : Ma !", "start": 2.1, "end": 3.0},
        {"text": " What a day .", "start": 3.1, "end": 4.0},
        {"text": " HOWARD : I said ma !", "start": 4.1, "end": 5.0},
        {"text": " Note at 10:30 , nobody came .", "start": 5.1, "end": 6.0},
    ]
    path = tmp_path / "tvqa_preprocessed_subtitles.jsonl"
    lines = [{"vid_name": "s01e01_seg01_clip_00", "sub": subs}, {"vid_name": "s01e01_seg01_clip_01", "sub": []}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "not json\n", encoding="utf-8")
    index = SubtitleIndex.build(path)
    assert len(index) == 2 and index.bad_lines == [f"{path}:3: no vid_name"]
    cues = index.cues("s01e01_seg01_clip_00")
    assert [(c.speaker, c.off_screen, c.text) for c in cues] == [
        ("Mrs Wolowitz", True, "Has she tried on the vest yet ?"),
        ("Howard", False, "Ma !"),
        (None, False, "What a day ."),
        ("Howard", False, "I said ma !"),
        (None, False, "Note at 10:30 , nobody came ."),
    ]
    with pytest.raises(SubtitleError, match=":2: no subtitle cues"):
        index.cues("s01e01_seg01_clip_01")


@pytest.mark.parametrize(
    ("sub", "message"),
    [
        ([{"text": "x", "start": "zero", "end": 1.0}], "cue 1 has no numeric start/end"),
        ([{"text": "x", "start": 0.0, "end": float("inf")}], "cue 1 has no numeric start/end"),
        ([{"start": 0.0, "end": 1.0}], "cue 1 has no text"),
        ("nope", "expected a 'sub' list"),
    ],
)
def test_malformed_jsonl_entries_are_errors_naming_file_and_line(tmp_path: Path, sub, message) -> None:
    path = tmp_path / "subs.jsonl"
    path.write_text(json.dumps({"vid_name": "friends_s01e01_seg01_clip_01", "sub": sub}) + "\n", encoding="utf-8")
    with pytest.raises(SubtitleError, match=f"subs.jsonl:1: {re.escape(message)}"):
        SubtitleIndex.build(path).cues("friends_s01e01_seg01_clip_01")


def test_deeply_nested_subtitle_line_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "subs.jsonl"
    path.write_text('{"vid_name": "friends_s01e01_seg01_clip_01", "sub": ' + "[" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(SubtitleError, match="not readable JSON"):
        SubtitleIndex.build(path).cues("friends_s01e01_seg01_clip_01")


def test_utf16_srt_is_found_after_utf8_and_latin1(tmp_path: Path) -> None:
    for encoding in ("utf-16", "utf-16-le"):  # with a BOM, and without one (NUL pattern)
        path = tmp_path / "w.srt"
        path.write_bytes("1\r\n00:00:01,000 --> 00:00:02,000\r\n(Joey:) Ça va ?\r\n".encode(encoding))
        (cue,), found = read_subtitles(path)
        assert (found, cue.speaker, cue.text) == (encoding, "Joey", "Ça va ?")


def test_a_cue_missing_its_blank_line_is_split_not_merged(tmp_path: Path) -> None:
    path = tmp_path / "c.srt"
    path.write_text("1\n00:00:01,000 --> 00:00:02,000\n(A:) one\n2\n00:00:03,000 --> 00:00:04,000\n(B:) two\n")
    cues, _ = read_subtitles(path)
    assert [(c.speaker, c.text) for c in cues] == [("A", "one"), ("B", "two")]


@pytest.mark.parametrize(
    "cue",
    [
        "(" + " " * 10_000 + ":)",
        "(" + "a " * 5_000,
        "A" * 10_000 + " : x",
        "<" * 10_000,
        "(" + "<" * 5_000 + ">" * 5_000 + ":) x",
        "a " * 5_000 + ":" * 10,
    ],
)
def test_adversarial_cues_parse_in_linear_time(tmp_path: Path, cue: str) -> None:
    import time

    srt_path = tmp_path / "adv.srt"
    srt_path.write_text(f"1\n00:00:01,000 --> 00:00:02,000\n{cue}\n", encoding="utf-8")
    jsonl_path = tmp_path / "adv.jsonl"
    sub = [{"text": cue, "start": 1.0, "end": 2.0}]
    jsonl_path.write_text(json.dumps({"vid_name": "s01e01_seg01_clip_00", "sub": sub}) + "\n")
    index = SubtitleIndex.build(jsonl_path)
    started = time.perf_counter()
    (from_srt,), _ = read_subtitles(srt_path)
    (from_jsonl,) = index.cues("s01e01_seg01_clip_00")
    assert time.perf_counter() - started < 0.05
    assert from_srt.speaker is None and from_jsonl.speaker is None  # none of these is a name


def test_qa_files_are_recognised_by_their_keys(tmp_path: Path) -> None:
    from builder.tvqa import find_qa_files, read_qa_file

    row = {"qid": 1, "q": "Who?", **{f"a{i}": str(i) for i in range(5)}, "ts": "0-57.32"}
    data = tmp_path / "data"
    data.mkdir()
    (data / "tvqa_val.jsonl").write_text(json.dumps({**row, "vid_name": "s01e01_seg01_clip_00"}) + "\n")
    (data / "tvqa_preprocessed_subtitles.jsonl").write_text('{"vid_name": "s01e01_seg01_clip_00", "sub": []}\n')
    plus = [{**row, "answer_idx": "3", "ts": [1.5, 4.0], "vid_name": "s01e02_seg02_clip_05", "bbox": {}}]
    (data / "tvqa_plus_val.json").write_text(json.dumps(plus))
    (tmp_path / "tvqa_qa_release").mkdir()
    (tmp_path / "tvqa_qa_release" / "tvqa_train.jsonl").write_text((data / "tvqa_val.jsonl").read_text())
    found = find_qa_files(tmp_path)
    assert (found.source, [p.name for p in found.paths]) == (
        "data/{tvqa_*.jsonl,tvqa_plus_*.json}",
        ["tvqa_plus_val.json", "tvqa_val.jsonl"],
    )
    assert [p.name for p in found.not_qa] == ["tvqa_preprocessed_subtitles.jsonl"]
    assert [p.name for p in found.ignored] == ["tvqa_train.jsonl"]  # the other layout's copy is not read twice
    ((question, error),) = list(read_qa_file(data / "tvqa_plus_val.json"))
    assert error is None and (question.answer_idx, question.ts, question.show) == (3, (1.5, 4.0), "The Big Bang Theory")


def test_show_spellings() -> None:
    from builder.tvqa import resolve_show

    assert {resolve_show(s) for s in ("How I Met You Mother", "how i met your mother", "met")} == {"met"}
    assert resolve_show("House M.D.") == resolve_show("house") == "house"
    assert resolve_show("the big bang theory") == "bbt"
    with pytest.raises(ValueError, match=r"unknown show 'Lost'; known shows: bbt \(The Big Bang Theory\)"):
        resolve_show("Lost")


# --- hostile QA fields, subtitle lines naming another clip, layouts (issue 23) ------------------------

QA_ROW = {
    "qid": 1,
    "q": "Who?",
    **{f"a{i}": str(i) for i in range(5)},
    "answer_idx": 2,
    "ts": "1.21-8.49",
    "vid_name": "friends_s01e01_seg02_clip_14",
    "show_name": "Friends",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ts": [None, 1]}, "bad field(s) ts (ts: start None is not a number)"),
        ({"ts": [1, None]}, "bad field(s) ts (ts: end None is not a number)"),
        ({"ts": [[1], 2]}, "ts: start [1] is not a number"),
        ({"ts": [True, 2]}, "ts: start True is not a number"),
        ({"ts": [1, 2, 3]}, "ts: [1, 2, 3] is not a start and an end"),
        ({"ts": "inf-9"}, "ts: start 'inf' is not finite"),
        ({"ts": "9-1"}, "ts: '9-1': need 0 <= start <= end"),
        ({"ts": 5}, "ts: 5 is not 'start-end' nor a [start, end] list"),
        ({"show_name": "Castle"}, "show_name: 'Castle' is Castle, but clip friends_s01e01_seg02_clip_14 is Friends"),
        ({"show_name": " "}, "bad field(s) show_name (show_name: is blank"),
        ({"show_name": "Lost"}, "show_name: unknown show 'Lost'"),
        ({"vid_name": "s01e01_seg01_clip_00"}, "but clip s01e01_seg01_clip_00 is The Big Bang Theory"),
        ({"answer_idx": 5}, "answer_idx: 5 is not an option index 0-4"),
        ({"qid": True}, "bad field(s) qid"),
    ],
)
def test_a_bad_qa_field_is_a_reject_naming_it(tmp_path: Path, change: dict, message: str) -> None:
    from builder.tvqa import read_qa_file

    path = tmp_path / "tvqa_train.jsonl"
    path.write_text(json.dumps({**QA_ROW, **change}) + "\n" + json.dumps(QA_ROW) + "\n", encoding="utf-8")
    (bad, error), (good, _) = list(read_qa_file(path))
    assert bad is None and error.startswith(f"{path}:1: ") and message in error, error
    assert good is not None and good.show == "Friends"


@pytest.mark.parametrize("spelling", ["How I Met Your Mother", "met", "HOW I MET YOU MOTHER", None])
def test_a_clip_show_is_its_prefix_in_tvqa_spelling(tmp_path: Path, spelling) -> None:
    from builder.tvqa import read_qa_file

    path = tmp_path / "tvqa_train.jsonl"
    row = {**QA_ROW, "vid_name": "met_s06e22_seg01_clip_02", "show_name": spelling}
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    ((question, error),) = list(read_qa_file(path))
    assert error is None and question.show == "How I Met You Mother"  # one spelling per show in the release


def test_a_subtitle_line_naming_another_clip_inside_keeps_each_clip_its_own_lines(tmp_path: Path) -> None:
    a, b = "friends_s01e01_seg02_clip_14", "friends_s01e01_seg02_clip_15"
    path = tmp_path / "tvqa_preprocessed_subtitles.jsonl"
    lines = [
        # clip a's line, with clip b's name in a cue placed before a's own vid_name
        {"sub": [{"vid_name": b, "text": " Joey : This is a .", "start": 0.5, "end": 1.5}], "vid_name": a},
        {"vid_name": b, "sub": [{"text": " Ross : This is b .", "start": 0.5, "end": 1.5}]},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    index = SubtitleIndex.build(path)
    assert index.duplicates == [] and index.bad_lines == []
    assert [c.text for c in index.cues(a)] == ["This is a ."]
    assert [c.text for c in index.cues(b)] == ["This is b ."]
    # a duplicated key: JSON keeps the last, and so does the index
    path.write_text(f'{{"vid_name": "{b}", "vid_name": "{a}", "sub": [{{"text": "x", "start": 0, "end": 1}}]}}\n')
    assert list(SubtitleIndex.build(path).offsets) == [a]


LAYOUT_CASES = [
    ("frames_fps: [3]\n", ":1: frames_fps: expected a number of frames per second, got a list of 1"),
    ("frames_fps: null\n", ":1: frames_fps: expected a number of frames per second, got None"),
    ("frames_fps: 2024-01-01\n", ":1: frames_fps: expected a number of frames per second, got datetime.date"),
    ("frames_fps: 0\n", ":1: frames_fps: must be > 0 and <= 240 frames per second, got 0"),
    ("frames_fps: .nan\n", ":1: frames_fps: must be > 0"),
    ("frames_fps: true\n", ":1: frames_fps: expected a number of frames per second, got True"),
    ("shows: [friends]\n", ":1: shows: expected a mapping of show -> kinds, got a list of 1"),
    ("shows:\n  friends: [a]\n", ":2: shows.friends: expected a mapping"),
    ("shows:\n  lost: {audio: 'a/{vid_name}.wav'}\n", ":2: shows.lost: unknown show 'lost'"),
    (
        "defaults:\n  video: 'v/{vid_name:>9000000000}.mp4'\n",
        ":2: defaults.video: 'v/{vid_name:>9000000000}.mp4' may only",
    ),
    ("defaults:\n  video: 'v/{vid_name!r}.mp4'\n", ":2: defaults.video: 'v/{vid_name!r}.mp4' may only use"),
    ("defaults:\n  video: 'v/{vid_name[0]}.mp4'\n", ":2: defaults.video:"),
    ("defaults:\n  video: videos/all.mp4\n", ":2: defaults.video: 'videos/all.mp4' has no {vid_name}"),
    ("defaults:\n  audio:\n    - 'a/{vid_name}.wav'\n    - /abs/{vid_name}.wav\n", ":4: defaults.audio.1: '/abs/"),
    ("defaults:\n  frames: ../{vid_name}\n", ":2: defaults.frames: '../{vid_name}' must stay inside the TVQA root"),
    ("defaults:\n  voice: 'a/{vid_name}.wav'\n", ":2: defaults.voice: unknown kind"),
    ("fps: 3\n", ":1: fps: unknown key"),
    ("defaults: {video: [\n", ":2: not valid YAML (did not find expected node content)"),
]


@pytest.mark.parametrize(("text", "message"), LAYOUT_CASES)
def test_a_bad_layout_file_is_one_line_naming_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "layout.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as info:
        MediaLayout.load(path)
    assert str(info.value).startswith(f"{path}{message}"), str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("qa_glob=/abs/*.jsonl", "qa_glob: '/abs/*.jsonl' must stay inside the TVQA root"),
        ("qa_glob=../../*.jsonl", "qa_glob: '../../*.jsonl' must stay inside the TVQA root"),
        ("video=videos/clip.mp4", "video: 'videos/clip.mp4' has no {vid_name}: every clip would share one file"),
        ("audio={show}/a.wav", "audio: '{show}/a.wav' has no {vid_name}"),
        ("subtitles=subs/{show}.srt", "subtitles: 'subs/{show}.srt' has no {vid_name}"),
        ("subtitles=/etc/passwd", "subtitles: '/etc/passwd' must stay inside the TVQA root"),
        ("frames_fps=0", "frames_fps: must be > 0 and <= 240 frames per second, got 0.0"),
        ("frames_fps=nan", "frames_fps: must be > 0"),
        ("frames_fps=three", "frames_fps: expected a number of frames per second, got 'three'"),
    ],
)
def test_a_bad_layout_option_is_a_usage_error_naming_it(tmp_path: Path, pair: str, message: str) -> None:
    from typer.testing import CliRunner

    from crossomni_cli import app

    result = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["inspect", "--tvqa-root", str(tmp_path), "--layout", pair])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output


def test_frames_fps_given_is_used_even_when_it_is_not_three() -> None:
    from builder.config import TvqaLayout

    file_layout = MediaLayout.parse({"frames_fps": 2})
    assert TvqaLayout(frames_fps="1.5", file=file_layout).media().frames_fps == 1.5
    assert TvqaLayout(file=file_layout).media().frames_fps == 2.0
    assert TvqaLayout().media().frames_fps == 3.0


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        (" Ｒａｃｈｅｌ : Hi\x00 there\x85 now .", ("Rachel", "Hi there now .")),  # fullwidth name, controls
        (" Zoe\u0308 : Hi .", ("Zoë", "Hi .")),  # the name composed (NFKC), one person however written
        (" Joey : \u200b\u2060", ("Joey", "")),  # shows nothing: no text (never an option or a line)
        (" \ufeff\u200b", (None, "")),
    ],
)
def test_subtitle_text_is_what_a_release_can_hold(tmp_path: Path, text: str, cue) -> None:
    path = tmp_path / "subs.jsonl"
    vid = "friends_s01e01_seg02_clip_14"
    path.write_text(json.dumps({"vid_name": vid, "sub": [{"text": text, "start": 0.5, "end": 1.5}]}) + "\n")
    (got,) = SubtitleIndex.build(path).cues(vid)
    assert (got.speaker, got.text) == cue


def test_a_lone_surrogate_in_a_subtitle_names_its_file_line_and_cue(tmp_path: Path) -> None:
    path = tmp_path / "subs.jsonl"
    vid = "friends_s01e01_seg02_clip_14"
    sub = [{"text": " Joey : fine .", "start": 0.5, "end": 1.5}, {"text": " Joey : \ud83d", "start": 2, "end": 3}]
    path.write_text(json.dumps({"vid_name": vid, "sub": sub}) + "\n")  # json.dumps escapes it: \\ud83d
    with pytest.raises(SubtitleError, match=r"subs.jsonl:1: cue 2 text holds a lone surrogate U\+D83D"):
        SubtitleIndex.build(path).cues(vid)
