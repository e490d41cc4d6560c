"""The generated sample is in TVQA's format and its media show what the spec (and so the release) says."""

import json

import numpy as np
import pytest

from builder.prompts import load_templates
from builder.sample.generate import COLOURS, SAMPLING_RATE, load_spec

SPEC = load_spec()
GOOD_CLIPS = [c for c in SPEC["clips"] if c.get("speaker_tags", True)]


def _f0(samples: np.ndarray) -> float:
    """Median fundamental frequency (Hz) of voiced 40 ms frames, by autocorrelation."""
    size = int(0.04 * SAMPLING_RATE)
    lo, hi = SAMPLING_RATE // 400, SAMPLING_RATE // 60
    estimates = []
    for start in range(0, len(samples) - size, size):
        frame = samples[start : start + size] - samples[start : start + size].mean()
        if np.sqrt(np.mean(frame**2)) < 0.02:
            continue
        corr = np.correlate(frame, frame, mode="full")[size - 1 :]
        lag = lo + int(np.argmax(corr[lo:hi]))
        if corr[lag] > 0.3 * corr[0]:
            estimates.append(SAMPLING_RATE / lag)
    return float(np.median(estimates))


@pytest.mark.parametrize("clip", GOOD_CLIPS, ids=lambda c: c["vid_name"])
def test_voices_have_the_pitch_the_spec_says(sample_tvqa_root, clip):
    from torchcodec.decoders import AudioDecoder

    audio = AudioDecoder(str(sample_tvqa_root / "videos" / f"{clip['vid_name']}.mp4"), sample_rate=SAMPLING_RATE)
    samples = audio.get_all_samples().data[0].numpy()
    voice = {p["name"]: p["voice"] for p in clip["people"]}
    for line in clip["lines"]:
        f0 = _f0(samples[int(line["start"] * SAMPLING_RATE) : int(line["end"] * SAMPLING_RATE)])
        if voice[line["speaker"]] == "high":
            assert f0 > 180, (line, f0)
        else:
            assert f0 < 130, (line, f0)


@pytest.mark.parametrize("clip", GOOD_CLIPS, ids=lambda c: c["vid_name"])
def test_frames_show_clothes_at_their_side_and_the_speaker_mouth(sample_tvqa_root, clip):
    from torchcodec.decoders import VideoDecoder

    decoder = VideoDecoder(str(sample_tvqa_root / "videos" / f"{clip['vid_name']}.mp4"))
    assert decoder.metadata.num_frames == int(clip["duration"] * SPEC["fps"])
    line = clip["lines"][0]
    frame = decoder[int(line["start"] * SPEC["fps"]) + 1].permute(1, 2, 0).numpy().astype(int)
    height, width, _ = frame.shape
    for person in clip["people"]:
        cx = int(width * (0.27 if person["side"] == "left" else 0.73))
        shirt = frame[int(height * 0.5), cx]
        pants = frame[int(height * 0.75), cx]
        assert np.abs(shirt - COLOURS[person["shirt"]]).max() < 45, (person["name"], shirt)
        assert np.abs(pants - COLOURS[person["pants"]]).max() < 45, (person["name"], pants)
        mouth = frame[height // 10 + int(1.4 * (height // 9)) + 2, cx]
        is_open = mouth.sum() < 300  # dark red mouth vs skin
        assert is_open == (person["name"] == line["speaker"]), person["name"]


def test_tvqa_files_have_tvqa_format(sample_tvqa_root):
    import srt

    rows = [json.loads(line) for line in (sample_tvqa_root / "tvqa_qa_release" / "tvqa_train.jsonl").open()]
    assert rows and all({"qid", "q", "a0", "a4", "answer_idx", "ts", "vid_name", "show_name"} <= set(r) for r in rows)
    subtitle = (sample_tvqa_root / "tvqa_subtitles" / "friends_s01e01_seg02_clip_14.srt").read_text()
    cues = list(srt.parse(subtitle))
    assert cues[0].content == "(Rachel:) I finally found the recipe."
    latin1 = (sample_tvqa_root / "tvqa_subtitles" / "castle_s01e01_seg02_clip_00.srt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        latin1.decode("utf-8")
    assert "café" in latin1.decode("latin-1")
    untagged = (sample_tvqa_root / "tvqa_subtitles" / "met_s06e22_seg01_clip_02.srt").read_text()
    assert "(Ted:)" not in untagged
    val = [json.loads(line) for line in (sample_tvqa_root / "tvqa_qa_release" / "tvqa_val.jsonl").open()]
    missing = [r for r in val if r["vid_name"] == "house_s02e05_seg02_clip_07"]
    assert missing and missing[0]["ts"] == "NaN-NaN"
    assert not (sample_tvqa_root / "videos" / "house_s02e05_seg02_clip_07.mp4").exists()


def test_release_facts_match_the_spec(sample_release):
    people = {p["name"]: (c, p) for c in GOOD_CLIPS for p in c["people"]}
    for split in ("train", "test"):
        for record in map(json.loads, (sample_release / f"{split}.jsonl").open()):
            clip, person = people[record["referent"]]
            assert record["clip_id"] == clip["vid_name"]
            answer = record["options"]["ABCD".index(record["answer"])]
            words = load_templates()
            facts = {*person["bio"].values(), person["shirt"], person["pants"], words["positions"][person["side"]]}
            facts.add(words["voice_words"][person["voice"]])
            facts |= {line["text"] for line in clip["lines"] if line["speaker"] == person["name"]}
            assert answer in facts, (record["id"], answer)


def test_a_complete_sample_root_is_left_as_it_is_and_a_damaged_one_rewritten(tmp_path):
    from builder.sample.generate import generate_sample_tvqa

    root = generate_sample_tvqa(tmp_path / "tvqa")
    subtitles = sorted((root / "tvqa_subtitles").glob("*.srt"))
    before = {path: path.stat().st_mtime_ns for path in subtitles}
    generate_sample_tvqa(root)
    assert {path: path.stat().st_mtime_ns for path in subtitles} == before  # nothing rewritten
    subtitles[0].write_text("1\n00:00:00,000 --> 00:00:01,000\ncut short\n")
    (root / "tvqa_qa_release" / "tvqa_val.jsonl").unlink()
    generate_sample_tvqa(root)
    assert "cut short" not in subtitles[0].read_text(encoding="latin-1")
    assert (root / "tvqa_qa_release" / "tvqa_val.jsonl").stat().st_size > 0
