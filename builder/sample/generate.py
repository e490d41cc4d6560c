"""Generate the embedded sample: a miniature TVQA release (QA jsonl, speaker-tagged .srt,
mp4 clips with an AAC audio track) whose media are drawn and spoken from ``spec.yaml``.

Frames are drawn with Pillow (each person at their side of the frame in their clothing
colours, mouth open while speaking); speech is espeak-ng with a high or low voice, resampled
to 16 kHz with soxr; PyAV muxes both into ``videos/<vid_name>.mp4``. Output is deterministic
for a given espeak-ng/ffmpeg build, and a rerun skips clips already written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from datetime import timedelta
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from model_calls.outputs import claim_output_dir
from model_calls.store import load_yaml

if TYPE_CHECKING:  # numpy is imported where clips are drawn: a rebuild with the clips on disk needs none
    import numpy as np

SAMPLING_RATE = 16_000
VIDEO_PATTERN = "videos/{vid_name}.mp4"
SUBTITLE_DIR = "tvqa_subtitles"
QA_DIR = "tvqa_qa_release"
# Train/val membership of the sample's TVQA QA files, by episode.
TRAIN_EPISODES = ("friends_s01e01", "castle_s01e01")
LATIN1_CLIPS = ("castle_s01e01_seg02_clip_00",)  # TVQA subtitles are often not UTF-8
SAMPLE_MARKER = ".crossomni_sample.json"  # what the root was generated from, and its files with their sizes

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 30, 30),
    "green": (30, 150, 50),
    "blue": (40, 70, 200),
    "black": (20, 20, 20),
    "white": (245, 245, 245),
    "yellow": (235, 210, 40),
    "grey": (128, 128, 128),
    "purple": (120, 40, 160),
    "brown": (110, 70, 30),
    "pink": (240, 140, 180),
    "orange": (240, 130, 20),
}
SKIN = (225, 185, 150)
BACKGROUND = (170, 190, 210)
FLOOR = (150, 130, 110)


def _shipped_spec_text() -> str:
    return resources.files("builder.sample").joinpath("spec.yaml").read_text(encoding="utf-8")


def load_spec() -> dict[str, Any]:
    """The sample specification shipped with the package."""
    return load_yaml(_shipped_spec_text())


# x centre of a person in the frame per position (background people stand further back, smaller).
FRAME_X = {"left": 0.27, "right": 0.73, "centre": 0.5, "background": 0.5}
BACKGROUND_SCALE = 0.6


def sample_spec(n_clips: int, seed: int = 0, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A spec of ``n_clips`` distinct generated clips (two or three people each; names, clothes,
    positions, voices, biographies and lines drawn from the ``generator`` vocabulary with ``seed``).

    Within a clip, people differ in name, shirt, pants, position and biography facts, and nobody's
    pants share a colour with anyone's shirt (the biography states shirts; pants are asked about).
    No (name, shirt, pants, position) occurs twice in the spec: a model asked the same thing about
    two clips would answer alike (and the response cache would answer the second from the first).
    """
    import random

    base = base or load_spec()
    vocab = base["generator"]
    rng = random.Random(seed)
    colours = list(COLOURS)
    clips, train_episodes = [], []
    seen: set[tuple[str, str, str, str]] = set()
    for index in range(n_clips):
        show = vocab["shows"][index % len(vocab["shows"])]
        n_shows = len(vocab["shows"])
        season, number = 1 + index // (25 * n_shows), 1 + (index // n_shows) % 25  # unique per (show, index)
        episode = f"{show['prefix']}s{season:02d}e{number:02d}"
        vid_name = f"{episode}_seg02_clip_{index % 100:02d}"
        if rng.random() < 0.5:
            train_episodes.append(episode)
        n_people = 3 if rng.random() < 0.3 else 2
        while True:  # nobody looks like (and is named like) a person of another clip
            names = rng.sample(vocab["names"], n_people)
            positions = rng.sample(["left", "right", "centre", "background"], n_people)
            shirts = rng.sample(colours, n_people)
            pants = rng.sample([c for c in colours if c not in shirts], n_people)
            looks = set(zip(names, shirts, pants, positions, strict=True))
            both_middle = "centre" in positions and "background" in positions  # would stand on each other
            if not both_middle and looks.isdisjoint(seen):
                seen |= looks
                break
        voices = rng.sample(["high", "low"], 2) + [rng.choice(["high", "low"])] * (n_people - 2)
        places = rng.sample(vocab["birthplaces"], n_people)
        jobs = rng.sample(vocab["occupations"], n_people)
        dates: list[str] = []
        while len(dates) < n_people:
            date = f"{rng.choice(vocab['months'])} {rng.randint(1, 28)}, {rng.choice(vocab['years'])}"
            if date not in dates:
                dates.append(date)
        people = [
            {
                "name": names[i],
                "side": positions[i],
                "shirt": shirts[i],
                "pants": pants[i],
                "voice": voices[i],
                "bio": {
                    "birthplace": places[i],
                    "birthdate": dates[i],
                    "occupation": jobs[i],
                },
            }
            for i in range(n_people)
        ]
        speakers = [*names, names[0]]
        texts: list[str] = []
        while len(texts) < len(speakers):
            frame = rng.choice(vocab["line_frames"])
            text = frame.format(thing=rng.choice(vocab["things"]), place=rng.choice(vocab["places"]))
            if text not in texts:
                texts.append(text)
        slot = 7.6 / len(speakers)
        lines = [
            {"start": round(0.3 + i * slot, 2), "end": round(0.3 + (i + 1) * slot - 0.2, 2), "speaker": who, "text": t}
            for i, (who, t) in enumerate(zip(speakers, texts, strict=True))
        ]
        clips.append(
            {
                "vid_name": vid_name,
                "show_name": show["show_name"],
                "duration": 8.0,
                "people": people,
                "lines": lines,
            }
        )
    keep = {k: base[k] for k in ("version", "fps", "frame_size", "voices", "generator")}
    return {**keep, "seed": seed, "clips": clips, "train_episodes": sorted(set(train_episodes)), "missing_clips": []}


def write_spec(spec: dict[str, Any], root: str | Path) -> Path:
    """Write a generated spec next to its TVQA root (the scripted backend answers from it)."""
    path = Path(root) / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def speaking_at(clip: dict[str, Any], t: float) -> set[str]:
    """Names of the people speaking at time ``t`` (seconds)."""
    return {line["speaker"] for line in clip["lines"] if line["start"] <= t < line["end"]}


def draw_frame(clip: dict[str, Any], t: float, size: tuple[int, int]) -> np.ndarray:
    """One RGB frame: the clip's people at their sides, speakers with an open mouth."""
    import numpy as np
    from PIL import Image, ImageDraw

    width, height = size
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, int(height * 0.8), width, height], fill=FLOOR)
    speakers = speaking_at(clip, t)
    ordered = sorted(clip["people"], key=lambda p: p["side"] != "background")  # the back row is drawn first
    for person in ordered:
        scale = BACKGROUND_SCALE if person["side"] == "background" else 1.0
        cx = int(width * FRAME_X[person["side"]])
        top = 0 if scale == 1.0 else int(height * 0.12)

        def y(fraction: float, top: int = top, scale: float = scale) -> int:
            return top + int(height * fraction * scale)

        head_r = max(2, int(height // 9 * scale))
        head_top = top + height // 10 if scale == 1.0 else top
        draw.ellipse([cx - head_r, head_top, cx + head_r, head_top + 2 * head_r], fill=SKIN)
        mouth_y = head_top + int(1.4 * head_r)
        mouth_h = 3 if person["name"] in speakers else 0
        draw.rectangle([cx - 3, mouth_y, cx + 3, mouth_y + mouth_h], fill=(90, 20, 20))
        torso_top = head_top + 2 * head_r + 1
        torso_bottom = int(height * 0.58) if scale == 1.0 else y(0.58)
        draw.rectangle([cx - head_r - 4, torso_top, cx + head_r + 4, torso_bottom], fill=COLOURS[person["shirt"]])
        legs_bottom = int(height * 0.92) if scale == 1.0 else y(0.92)
        draw.rectangle([cx - head_r - 2, torso_bottom, cx + head_r + 2, legs_bottom], fill=COLOURS[person["pants"]])
    return np.asarray(image)


def speak(text: str, voice: dict[str, Any]) -> np.ndarray:
    """espeak-ng speech of ``text`` as float32 mono at 16 kHz."""
    import numpy as np
    import soundfile as sf
    import soxr

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng not found: install it (apt-get install -y espeak-ng) to generate the sample")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "line.wav"
        subprocess.run(
            [espeak, "-v", voice["voice"], "-p", str(voice["pitch"]), "-s", str(voice["speed"]), "-w", str(wav), text],
            check=True,
            capture_output=True,
        )
        samples, rate = sf.read(wav, dtype="float32")
    return soxr.resample(samples, rate, SAMPLING_RATE).astype(np.float32)


def clip_audio(clip: dict[str, Any], voices: dict[str, dict[str, Any]]) -> np.ndarray:
    """The clip's soundtrack: each line spoken by its speaker inside its subtitle window."""
    import numpy as np

    track = np.zeros(int(clip["duration"] * SAMPLING_RATE), dtype=np.float32)
    voice_of = {person["name"]: voices[person["voice"]] for person in clip["people"]}
    for line in clip["lines"]:
        speech = speak(line["text"], voice_of[line["speaker"]])
        start = int(line["start"] * SAMPLING_RATE)
        window = int(line["end"] * SAMPLING_RATE) - start
        speech = speech[:window]
        track[start : start + len(speech)] += speech
    return np.clip(track, -1.0, 1.0)


def write_mp4(path: Path, frames: list[np.ndarray], fps: int, audio: np.ndarray) -> None:
    """Mux frames (H.264) and 16 kHz mono audio (AAC) into ``path`` atomically."""

    import av

    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), mode="w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height = frames[0].shape[1], frames[0].shape[0]
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "28", "preset": "veryfast"}
        sound = container.add_stream("aac", rate=SAMPLING_RATE, layout="mono")
        for frame in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        chunk = 1024
        for offset in range(0, len(audio), chunk):
            block = audio[offset : offset + chunk].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
            frame.sample_rate = SAMPLING_RATE
            frame.pts = offset
            frame.time_base = Fraction(1, SAMPLING_RATE)
            for packet in sound.encode(frame):
                container.mux(packet)
        for packet in sound.encode():
            container.mux(packet)
    os.replace(tmp, path)


def subtitle_text(clip: dict[str, Any]) -> str:
    """The clip's subtitles as TVQA writes them: ``(Name:) line`` when speakers are tagged."""
    import srt

    tagged = clip.get("speaker_tags", True)
    cues = [
        srt.Subtitle(
            index=i,
            start=timedelta(seconds=line["start"]),
            end=timedelta(seconds=line["end"]),
            content=f"({line['speaker']}:) {line['text']}" if tagged else line["text"],
        )
        for i, line in enumerate(clip["lines"], start=1)
    ]
    return srt.compose(cues)


def tvqa_questions(clip: dict[str, Any], qid_start: int) -> list[dict[str, Any]]:
    """TVQA-style QA rows (``q``, ``a0``..``a4``, ``answer_idx``, ``ts``) about who says what."""
    others = ["Sheldon", "Phoebe", "Ross", "Esposito", "Howard"]
    rows = []
    for offset, line in enumerate(clip.get("lines", [])[:2]):
        wrong = [name for name in others if name != line["speaker"]][:4]
        answer_idx = (qid_start + offset) % 5
        options = [*wrong[:answer_idx], line["speaker"], *wrong[answer_idx:]]
        rows.append(
            {
                "qid": qid_start + offset,
                "q": f'Who says "{line["text"]}"?',
                **{f"a{i}": option for i, option in enumerate(options)},
                "answer_idx": answer_idx,
                "ts": f"{line['start']:.2f}-{line['end']:.2f}",
                "vid_name": clip["vid_name"],
                "show_name": clip["show_name"],
            }
        )
    return rows


def _spec_digest(spec: dict[str, Any] | None) -> str:
    """What a sample root was generated from: the shipped spec's text, or a given spec's canonical JSON."""
    if spec is None:
        text = "shipped:" + _shipped_spec_text()
    else:
        text = "given:" + json.dumps(spec, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_complete(root: Path, digest: str) -> bool:
    """``root`` holds every file of the spec with ``digest``, each of the size it was written with."""
    try:
        marker = json.loads((root / SAMPLE_MARKER).read_text(encoding="utf-8"))
        return marker["spec"] == digest and all(
            (root / name).stat().st_size == size for name, size in marker["files"].items()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def generate_sample_tvqa(out_dir: str | Path, spec: dict[str, Any] | None = None, option: str = "--out") -> Path:
    """Write the sample TVQA root to ``out_dir`` (skipping clips already there) and return it.

    A root already complete for this spec (its marker file names every file with its size) is left as it
    is, so a rebuild of the sample does no sample work. Any other folder must be new, empty or a sample
    root (``model_calls.outputs``): a real TVQA root is never written over (``option`` names the folder)."""
    root = Path(out_dir)
    digest = _spec_digest(spec)
    if _is_complete(root, digest):
        return root
    if not (root / SAMPLE_MARKER).is_file():  # a root generated before has the sample's own marker
        claim_output_dir(root, "sample", option=option, flag=None)
    spec = spec or load_spec()
    (root / SUBTITLE_DIR).mkdir(parents=True, exist_ok=True)
    (root / QA_DIR).mkdir(parents=True, exist_ok=True)
    (root / VIDEO_PATTERN.format(vid_name="x")).parent.mkdir(parents=True, exist_ok=True)
    size = tuple(spec["frame_size"])
    qa: dict[str, list[dict[str, Any]]] = {"train": [], "val": []}
    qid = 100
    for clip in spec["clips"]:
        encoding = "latin-1" if clip["vid_name"] in LATIN1_CLIPS else "utf-8"
        (root / SUBTITLE_DIR / f"{clip['vid_name']}.srt").write_bytes(subtitle_text(clip).encode(encoding))
        video_path = root / VIDEO_PATTERN.format(vid_name=clip["vid_name"])
        if not video_path.is_file():
            n_frames = int(clip["duration"] * spec["fps"])
            frames = [draw_frame(clip, i / spec["fps"], size) for i in range(n_frames)]
            write_mp4(video_path, frames, spec["fps"], clip_audio(clip, spec["voices"]))
        split = "train" if clip["vid_name"].split("_seg")[0] in spec.get("train_episodes", TRAIN_EPISODES) else "val"
        qa[split].extend(tvqa_questions(clip, qid))
        qid += 10
    for missing in spec.get("missing_clips", []):
        qa["val"].append(
            {
                "qid": qid,
                "q": "Who walks in?",
                **{f"a{i}": n for i, n in enumerate("ABCDE")},
                "answer_idx": 0,
                "ts": "NaN-NaN",
                **missing,
            }
        )
        qid += 1
    for split, rows in qa.items():
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (root / QA_DIR / f"tvqa_{split}.jsonl").write_text(text, encoding="utf-8")
    written = [SUBTITLE_DIR + f"/{c['vid_name']}.srt" for c in spec["clips"]]
    written += [VIDEO_PATTERN.format(vid_name=c["vid_name"]) for c in spec["clips"]]
    written += [QA_DIR + f"/tvqa_{split}.jsonl" for split in qa]
    marker = {"spec": digest, "files": {name: (root / name).stat().st_size for name in written}}
    (root / SAMPLE_MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
    return root
