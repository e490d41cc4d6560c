"""TVQA roots laid out as TVQA is distributed, generated from the embedded sample (no binaries
committed). ``make_today_root``: flat ``data/`` QA files beside the preprocessed subtitle jsonl
(``Name : ``, ``Name off : ``, untagged lines), 3 fps frame folders, audio obtained separately per
show (Big Bang Theory under ``bbt_new/``). ``make_legacy_root``: the old tarball — ``tvqa_qa_release/``,
per-clip ``.srt`` with ``(Name:)`` tags in ISO-8859-1 with CRLF and multi-line cues, mp4 clips."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from builder.sample.generate import load_spec, tvqa_questions
from builder.tvqa.media import SAMPLING_RATE, decode_audio

TVQA_SHOW_NAMES = {"How I Met Your Mother": "How I Met You Mother"}  # as spelled in TVQA's files
AUDIO_OF_SHOW = {  # one consumer's layout, with three formats across shows
    "friends": "audios/friends/friends_audios/{vid}.mp3",
    "castle": "audios/castle/castle_audios/{vid}.wav",
    "bbt": "audios/bbt_new/bbt_audios/{vid}.mp3",
    "met": "audios/met/met_audios/{vid}.m4a",
    "house": "audios/house/house_audios/{vid}.m4a",
}
HOUSE_CLIP = "house_s07e19_seg02_clip_12"  # made here: every subtitle convention in one clip
NO_AUDIO_CLIP = "grey_s03e05_seg01_clip_04"  # frames only
EVIL_CLIP = "../../evil/x"


@dataclass
class RootFacts:
    """What a generated root holds, as its generator knows it: the numbers a test checks."""

    root: Path
    usable: dict[str, set[str]] = field(default_factory=dict)  # clip -> speaker names it names
    unusable: dict[str, str] = field(default_factory=dict)  # clip -> reason
    off_screen: dict[str, set[str]] = field(default_factory=dict)  # clip -> names heard off screen
    untagged_lines: dict[str, int] = field(default_factory=dict)  # clip -> lines naming nobody


def clip_wav(media_file: Path, out: Path) -> Path:
    """A clip's audio track as a 16 kHz mono wav (TVQA's separately obtained audio, as some users have it)."""
    import soundfile as sf

    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, decode_audio(media_file), SAMPLING_RATE, subtype="PCM_16")
    return out


def encode_audio(path: Path, samples: np.ndarray) -> None:
    """16 kHz mono float samples into a wav, mp3 or m4a file (by extension)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".wav":
        import soundfile as sf

        sf.write(path, samples, SAMPLING_RATE)
        return
    codec = {".mp3": "libmp3lame", ".m4a": "aac"}[path.suffix]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=SAMPLING_RATE, layout="mono")
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=SAMPLING_RATE)
        for offset in range(0, len(samples), 1152):
            frame = av.AudioFrame.from_ndarray(
                samples[offset : offset + 1152].reshape(1, -1), format="flt", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = SAMPLING_RATE, offset, Fraction(1, SAMPLING_RATE)
            for resampled in resampler.resample(frame):
                for packet in stream.encode(resampled):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_frames(mp4: Path, folder: Path) -> None:
    """The clip's frames as TVQA ships them: ``00001.jpg`` ... (the sample is drawn at TVQA's 3 fps)."""
    import decord
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    reader = decord.VideoReader(str(mp4))
    for i, frame in enumerate(reader.get_batch(list(range(len(reader)))).asnumpy()):
        Image.fromarray(frame).save(folder / f"{i + 1:05d}.jpg", quality=95)


def _qa_row(vid: str, show: str, qid: int) -> dict:
    return {
        "qid": qid,
        "q": "Who is talking?",
        **{f"a{i}": name for i, name in enumerate(("Ann", "Bob", "Cy", "Di", "Ed"))},
        "answer_idx": qid % 5,
        "ts": "0.5-3.0",
        "vid_name": vid,
        "show_name": show,
    }


def _prefix(vid: str) -> str:
    head = vid.split("_", 1)[0]
    return head if head in ("friends", "castle", "grey", "house", "met") else "bbt"


def make_today_root(sample_root: Path, out: Path) -> RootFacts:
    """A root as TVQA is distributed today (see the module docstring), from the sample's media."""
    spec = load_spec()
    facts = RootFacts(out)
    qa: dict[str, list[dict]] = {"train": [], "val": [], "test_public": []}
    subtitle_lines = []
    qid = 1000
    for number, clip in enumerate(spec["clips"]):
        vid, show = clip["vid_name"], TVQA_SHOW_NAMES.get(clip["show_name"], clip["show_name"])
        tagged = clip.get("speaker_tags", True)
        sub = [
            {"text": f" {line['speaker']} : {line['text']}" if tagged else f" {line['text']}", **_times(line)}
            for line in clip["lines"]
        ]
        subtitle_lines.append({"vid_name": vid, "sub": sub})
        _media_from_sample(sample_root / "videos" / f"{vid}.mp4", out, vid)
        split = ("train", "val", "test_public")[number % 3]
        rows = [{**row, "show_name": show} for row in tvqa_questions(clip, qid)]
        qa[split] += [{k: v for k, v in r.items() if k != "answer_idx"} if split == "test_public" else r for r in rows]
        qid += 10
        if tagged:
            facts.usable[vid] = {line["speaker"] for line in clip["lines"]}
        else:
            facts.unusable[vid] = "no-speaker-names"
    # every subtitle convention of the jsonl in one clip, with the sample's castle clip as media
    facts.usable[HOUSE_CLIP] = {"Wilson", "Cuddy"}
    facts.off_screen[HOUSE_CLIP] = {"Cuddy"}
    facts.untagged_lines[HOUSE_CLIP] = 1
    subtitle_lines.append(
        {
            "vid_name": HOUSE_CLIP,
            "sub": [
                {"text": " Wilson : The scan came back clean .", "start": 0.4, "end": 2.8},
                {"text": " Cuddy off : Then why is he still here ?", "start": 3.1, "end": 4.2},
                {"text": " Nobody answered the page .", "start": 4.3, "end": 5.5},
                {"text": " WILSON : Because I asked him to stay .", "start": 5.7, "end": 7.8},
            ],
        }
    )
    _media_from_sample(sample_root / "videos" / "castle_s01e01_seg02_clip_00.mp4", out, HOUSE_CLIP)
    qa["val"].append(_qa_row(HOUSE_CLIP, "House M.D.", 2000))
    # frames without audio; a clip named only in QA; a vid_name that tries to leave the root
    subtitle_lines.append({"vid_name": NO_AUDIO_CLIP, "sub": [{"text": " Meredith : Hi .", "start": 0.5, "end": 2.0}]})
    write_frames(
        sample_root / "videos" / "castle_s01e01_seg02_clip_00.mp4", out / f"frames_hq/grey_frames/{NO_AUDIO_CLIP}"
    )
    facts.unusable[NO_AUDIO_CLIP] = "no-media"
    qa["val"].append(_qa_row(NO_AUDIO_CLIP, "Grey's Anatomy", 2001))
    facts.unusable["house_s02e05_seg02_clip_07"] = "no-subtitles"
    qa["val"].append(_qa_row("house_s02e05_seg02_clip_07", "House M.D.", 2003))
    facts.unusable[EVIL_CLIP] = "unsafe-vid-name"
    qa["test_public"].append(_qa_row(EVIL_CLIP, "Castle", 2002))
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    for split, rows in qa.items():
        (data / f"tvqa_{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    # the subtitle file sits beside the QA files (its name matches tvqa_*.jsonl too)
    (data / "tvqa_preprocessed_subtitles.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in subtitle_lines), encoding="utf-8"
    )
    return facts


def _times(line: dict) -> dict:
    return {"start": line["start"], "end": line["end"]}


def _media_from_sample(mp4: Path, out: Path, vid: str) -> None:
    """TVQA's form of a clip: its frame folder and, separately, its audio in the show's layout."""
    prefix = _prefix(vid)
    write_frames(mp4, out / f"frames_hq/{prefix}_frames/{vid}")
    wav = clip_wav(mp4, out / "tmp_audio" / f"{vid}.wav")
    import soundfile as sf

    encode_audio(out / AUDIO_OF_SHOW[prefix].format(vid=vid), sf.read(wav, dtype="float32")[0])
    shutil.rmtree(out / "tmp_audio")


def srt_text(lines: list[dict], tagged: bool) -> str:
    """Legacy TVQA .srt: ``(Name:)`` tags, CRLF line ends, the second line of each cue on a line of its own."""
    blocks = []
    for number, line in enumerate(lines, start=1):
        words = line["text"].split()
        half = len(words) // 2
        text = " ".join(words[:half]) + "\r\n" + " ".join(words[half:])
        tag = f"({line['speaker']}:) " if tagged else ""
        blocks.append(f"{number}\r\n{_srt_time(line['start'])} --> {_srt_time(line['end'])}\r\n{tag}{text}\r\n")
    return "\r\n".join(blocks)


def _srt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"


def make_legacy_root(sample_root: Path, out: Path) -> RootFacts:
    """The old tarball's layout from the sample: ISO-8859-1 (one clip UTF-16 with a BOM) .srt files."""
    spec = load_spec()
    facts = RootFacts(out)
    (out / "tvqa_subtitles").mkdir(parents=True, exist_ok=True)
    (out / "tvqa_qa_release").mkdir(parents=True, exist_ok=True)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    rows = []
    for number, clip in enumerate(spec["clips"]):
        vid = clip["vid_name"]
        tagged = clip.get("speaker_tags", True)
        encoding = "utf-16" if number == 2 else "latin-1"
        (out / "tvqa_subtitles" / f"{vid}.srt").write_bytes(srt_text(clip["lines"], tagged).encode(encoding))
        os.link(sample_root / "videos" / f"{vid}.mp4", out / "videos" / f"{vid}.mp4")
        rows += tvqa_questions(clip, 100 + 10 * number)
        if tagged:
            facts.usable[vid] = {line["speaker"] for line in clip["lines"]}
        else:
            facts.unusable[vid] = "no-speaker-names"
    rows.append(_qa_row("house_s02e05_seg02_clip_07", "House M.D.", 99))
    facts.unusable["house_s02e05_seg02_clip_07"] = "no-subtitles"
    (out / "tvqa_qa_release" / "tvqa_val.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )
    return facts
