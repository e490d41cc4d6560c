"""``crossomni build`` at TVQA's shape with a simulated-latency backend: does the model ever wait for the CPU?

    .venv/bin/python benchmarks/build_scale.py                       # 40 clips at 10/30/3 requests/s
    .venv/bin/python benchmarks/build_scale.py --clips 200 --rates caption=20,text=60,voice=6
    .venv/bin/python benchmarks/build_scale.py --synthetic --clips 360 --baseline a3152fa --repeats 3
    .venv/bin/python benchmarks/build_scale.py --synthetic --clips 40 1080    # peak RSS against scale

TVQA mode (default): a generated root laid out as TVQA ships today — ``data/`` QA files beside the
preprocessed subtitle jsonl, ``frames_hq/<show>_frames/<vid>/00001.jpg`` at 3 fps and 640x360, audio per
show under ``audios/<show>/<show>_audios/`` (mp3, wav or m4a; Big Bang Theory under ``bbt_new/``), 90 s
clips with 24 cues by 3 speakers. ``--distinct`` media sets (at least 20) are drawn and hard-linked under
every clip name; each clip has its own people, lines and cue times. The build runs in a fresh process
with the simulated backend: it samples every media part of a request as a local engine does
(``model_calls.omni_inputs``: prepared by the media workers, or decoded there and then), sleeps
``n / rate`` seconds for a batch of ``n`` (the role's rate; batches as the models YAML sizes them), and
answers from the generated spec (the scripted backend). Printed per stage: requests, the simulated model
time, wall time, CPU time of the build process, the media workers' CPU time, and wall / model; the peak
RSS of the build process and of the largest worker; disk per clip (work/, stages/, cache, muxed media/)
against the clip's own media (frames + audio); then a warm rebuild (the same folder without its stage
outputs; the cache and the muxed clips kept): backend calls and media decodes, which should be none.

Synthetic mode (``--synthetic``): generated sample clips (96x64, 8 s; ``builder.sample.generate``) built
with the scripted backend and no latency: seconds per clip. ``--baseline REV`` also builds the same root
with the code of commit ``REV`` (``git archive``), alternating new and baseline ``--repeats`` times, and
prints the medians and the median of the per-pair ratios. Several ``--clips`` values compare peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from builder.sample.scripted import ScriptedBackend  # noqa: E402
from model_calls.base import ModelRequest, ModelResponse  # noqa: E402
from tests.helpers.tvqa_layouts import encode_audio  # noqa: E402  (wav, mp3 or m4a by extension)

SAMPLING_RATE = 16_000
FPS = 3
# The shows' clip prefixes and how their audio is found (Big Bang Theory clips have no prefix).
SHOWS = (
    ("Friends", "friends", "audios/friends/friends_audios/{vid}.mp3"),
    ("Castle", "castle", "audios/castle/castle_audios/{vid}.wav"),
    ("The Big Bang Theory", "bbt", "audios/bbt_new/bbt_audios/{vid}.mp3"),
    ("House M.D.", "house", "audios/house/house_audios/{vid}.m4a"),
    ("Grey's Anatomy", "grey", "audios/grey/grey_audios/{vid}.m4a"),
    ("How I Met You Mother", "met", "audios/met/met_audios/{vid}.m4a"),
)
COLOURS = ("red", "green", "blue", "black", "white", "yellow", "grey", "purple", "brown", "pink", "orange")
SIDES = ("left", "centre", "right")
STAGE_ROLE = {
    "caption": "caption",
    "describe": "text",
    "biography": "text",
    "voice": "voice",
    "qa": "text",
    "verify": "text",
    "blind": "text",
    "rationale": "text",
}


# --- the generated root ------------------------------------------------------------------------------


def tvqa_spec(clips: int, seed: int = 0, seconds: float = 90.0, cues: int = 24) -> dict[str, Any]:
    """A spec (``builder.sample`` format) of ``clips`` clips of 3 speakers and ``cues`` lines each."""
    from builder.sample.generate import load_spec

    base = load_spec()
    vocab = base["generator"]
    rng = random.Random(seed)
    out, episodes = [], []
    for index in range(clips):
        show, prefix, _ = SHOWS[index % len(SHOWS)]
        episode = f"{'' if prefix == 'bbt' else prefix + '_'}s{1 + index // 600:02d}e{1 + index // 6 % 100:02d}"
        vid = f"{episode}_seg0{1 + index % 2}_clip_{index // 200 % 100:02d}"
        names = rng.sample(vocab["names"], 3)
        shirts = rng.sample(COLOURS, 3)
        pants = rng.sample([c for c in COLOURS if c not in shirts], 3)
        voices = [*rng.sample(["high", "low"], 2), rng.choice(["high", "low"])]
        people = [
            {
                "name": names[i],
                "side": SIDES[i],
                "shirt": shirts[i],
                "pants": pants[i],
                "voice": voices[i],
                "bio": {
                    "birthplace": rng.choice(vocab["birthplaces"]),
                    "birthdate": f"{rng.choice(vocab['months'])} {rng.randint(1, 28)}, {rng.choice(vocab['years'])}",
                    "occupation": rng.choice(vocab["occupations"]),
                },
            }
            for i in range(3)
        ]
        slot = seconds / cues
        lines = []
        for k in range(cues):
            start = round(k * slot + rng.uniform(0.05, 0.4), 2)
            text = rng.choice(vocab["line_frames"]).format(
                thing=rng.choice(vocab["things"]), place=rng.choice(vocab["places"])
            )
            end = round(min(start + rng.uniform(0.6, 0.9) * slot, (k + 1) * slot - 0.05), 2)
            lines.append(
                {
                    "start": start,
                    "end": end,
                    "speaker": names[k % 3 if k < 3 or k % 5 else rng.randrange(3)],
                    "text": text,
                }
            )
        out.append({"vid_name": vid, "show_name": show, "duration": seconds, "people": people, "lines": lines})
        if rng.random() < 0.5:
            episodes.append(episode)
    keep = {k: base[k] for k in ("version", "fps", "frame_size", "voices", "generator")}
    return {**keep, "seed": seed, "clips": out, "train_episodes": sorted(set(episodes)), "missing_clips": []}


def draw_frames(folder: Path, index: int, seconds: float, size: tuple[int, int]) -> None:
    """Frames of one media set: a textured set that changes shot every few seconds, three people moving."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(index)
    width, height = size
    folder.mkdir(parents=True, exist_ok=True)
    sets = []
    for _ in range(4):  # the shots' backgrounds
        texture = rng.integers(0, 255, (height // 8, width // 8 + 8, 3), dtype=np.uint8)
        image = Image.fromarray(texture).resize((width + 64, height), Image.BICUBIC).filter(ImageFilter.GaussianBlur(3))
        sets.append(np.asarray(image))
    for n in range(int(seconds * FPS)):
        shot = (n // (FPS * 4)) % len(sets)  # a cut every 4 s
        pan = n % (FPS * 4)
        image = Image.fromarray(np.ascontiguousarray(sets[shot][:, pan : pan + width]))
        draw = ImageDraw.Draw(image)
        for p in range(3):
            cx = int(width * (0.2 + 0.3 * p) + 8 * np.sin(n / 4 + p))
            head = height // 9
            draw.ellipse([cx - head, height // 8, cx + head, height // 8 + 2 * head], fill=(225, 185, 150))
            draw.rectangle(
                [cx - head - 8, height // 8 + 2 * head, cx + head + 8, int(height * 0.9)], fill=(40 * p, 90, 180)
            )
        grain = rng.integers(-1, 2, (height, width, 3), dtype=np.int16)
        pixels = np.clip(np.asarray(image, dtype=np.int16) + grain, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{n + 1:05d}.jpg", quality=75)


def speech_like(index: int, seconds: float) -> np.ndarray:
    """Voiced bursts at three pitches with pauses: a soundtrack of three speakers taking turns."""
    rng = np.random.default_rng(1000 + index)
    t = np.arange(int(seconds * SAMPLING_RATE)) / SAMPLING_RATE
    pitch = np.array([110.0, 220.0, 160.0])[(t // 3.75).astype(int) % 3]
    envelope = (np.sin(2 * np.pi * 3 * t) > -0.2) * (np.mod(t, 3.75) < 3.0)
    voiced = np.sin(2 * np.pi * pitch * t) + 0.3 * np.sin(4 * np.pi * pitch * t)
    noise = rng.normal(0, 0.02, t.size)
    return (0.3 * voiced * envelope + noise).astype(np.float32)


def generate_root(root: Path, spec: dict[str, Any], distinct: int, size: tuple[int, int]) -> dict[str, int]:
    """Write the TVQA root of ``spec`` (media sets drawn once, hard-linked per clip); bytes of each clip's media."""
    seconds = spec["clips"][0]["duration"]
    sets = root.parent / f"{root.name}-media"
    for k in range(distinct):
        folder = sets / f"set{k:03d}"
        if not (folder / "frames").is_dir():
            draw_frames(folder / "frames.part", k, seconds, size)
            samples = speech_like(k, seconds)
            for ext in ("mp3", "wav", "m4a"):
                encode_audio(folder / f"audio.{ext}", samples)
            (folder / "frames.part").rename(folder / "frames")
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    sizes: dict[str, int] = {}
    qa, subtitles = [], []
    for n, clip in enumerate(spec["clips"]):
        vid, show = clip["vid_name"], clip["show_name"]
        prefix, audio_pattern = next((p, a) for s, p, a in SHOWS if s == show)
        source = sets / f"set{n % distinct:03d}"
        frames = root / "frames_hq" / f"{prefix}_frames" / vid
        audio = root / audio_pattern.format(vid=vid)
        if not frames.is_dir():
            frames.mkdir(parents=True)
            for jpg in sorted((source / "frames").iterdir()):
                os.link(jpg, frames / jpg.name)
            audio.parent.mkdir(parents=True, exist_ok=True)
            os.link(source / f"audio{audio.suffix}", audio)
        sizes[vid] = sum(p.stat().st_size for p in frames.iterdir()) + audio.stat().st_size
        subtitles.append(
            {
                "vid_name": vid,
                "sub": [
                    {"text": f" {x['speaker']} : {x['text']}", **{k: x[k] for k in ("start", "end")}}
                    for x in clip["lines"]
                ],
            }
        )
        for q in range(7):  # TVQA's average questions per clip
            row = {
                "qid": n * 7 + q,
                "q": "Who speaks first?",
                **{f"a{i}": clip["people"][i % 3]["name"] for i in range(5)},
            }
            qa.append({**row, "answer_idx": q % 5, "ts": "1.0-9.5", "vid_name": vid, "show_name": show})
    (data / "tvqa_train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in qa), encoding="utf-8")
    (data / "tvqa_preprocessed_subtitles.jsonl").write_text(
        "".join(json.dumps(s) + "\n" for s in subtitles), encoding="utf-8"
    )
    return sizes


# --- the simulated backend ---------------------------------------------------------------------------


class SimulatedBackend(ScriptedBackend):
    """A local engine's shape: samples each request's media in this process (as ``vllm``/``transformers``
    do before a batch goes to the accelerator), then takes ``n / rate`` seconds for a batch of ``n``
    (``rates`` per model id), and answers from the spec."""

    name = "simulated"
    reads_media = True

    def __init__(self, spec: dict[str, Any], rates: dict[str, float]) -> None:
        super().__init__(spec=spec)
        self.rates = rates
        self.slept = 0.0

    def generate(self, requests: Sequence[ModelRequest]) -> list[ModelResponse]:
        from model_calls.omni_inputs import sample_messages
        from model_calls.presets import input_preset

        for request in requests:
            sample_messages(request.messages, input_preset("generic"))
        rate = self.rates.get(requests[0].model) if requests else None
        if rate:
            seconds = len(requests) / rate
            time.sleep(seconds)
            self.slept += seconds
        return super().generate(requests)


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
args = json.loads(sys.argv[2])
from builder.config import BuildConfig
from builder.pipeline import run_build
from model_calls import CachedBackend, ResponseCache
spec = json.loads(Path(args["spec"]).read_text())
out = Path(args["out"])
settings = dict(tvqa_root=Path(args["root"]), out=out, backend="scripted", progress=False)
if args["mode"] == "tvqa":
    from build_scale import SimulatedBackend
    from model_calls.media import decode_count
    # the generated people are not audited data: the audit's bound is not this benchmark's business
    config = BuildConfig(**settings, media_workers=args["workers"], max_shortcut_accuracy=1.0)
    models = config.models
    rates = {getattr(models, role).model: rate for role, rate in args["rates"].items()}
    engine = SimulatedBackend(spec, rates)
else:
    from builder.sample.scripted import ScriptedBackend
    config = BuildConfig(**settings)
    engine = ScriptedBackend(spec=spec)
try:  # a build refuses a folder with files it did not write: claim it before the cache goes in
    from model_calls.outputs import claim_output_dir
    claim_output_dir(out, "build")
except ImportError:  # a baseline revision from before the rule
    pass
backend = CachedBackend(engine, ResponseCache(out / "cache.sqlite"))
status = Path("/proc/self/status").read_text() if Path("/proc/self/status").exists() else ""
harness = next((int(l.split()[1]) / 1024 for l in status.splitlines() if l.startswith("VmRSS")), 0.0)
started = time.perf_counter()
cpu = time.process_time()
report = run_build(config, backend=backend)
result = {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu, "report": report,
          "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "harness_mib": harness,
          "worker_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}
if args["mode"] == "tvqa":
    result["decoded_here"] = decode_count()
    result["slept"] = engine.slept
print("RESULT " + json.dumps(result))
"""


def run_child(tree: Path, **args: Any) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{REPO / 'benchmarks'}", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(REPO / "benchmarks"), json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
    )
    if done.returncode != 0:
        raise SystemExit(f"build failed ({tree}):\n{done.stderr[-3000:]}")
    line = next(line for line in reversed(done.stdout.splitlines()) if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def parse_rates(text: str) -> dict[str, float]:
    rates = {}
    for part in text.split(","):
        role, _, value = part.partition("=")
        if role.strip() not in ("caption", "text", "voice"):
            raise SystemExit(f"--rates: unknown role {role!r} (caption, text, voice)")
        rates[role.strip()] = float(value)
    return rates


# --- the two modes -----------------------------------------------------------------------------------


def tvqa_mode(args: argparse.Namespace, work: Path) -> None:
    rates = parse_rates(args.rates)
    width, height = (int(v) for v in args.size.split("x"))
    for clips in args.clips:
        spec = tvqa_spec(clips, seconds=args.seconds, cues=args.cues)
        spec_path = work / f"spec{clips}.json"
        spec_path.write_text(json.dumps(spec))
        started = time.perf_counter()
        sizes = generate_root(work / f"tvqa{clips}", spec, args.distinct, (width, height))
        print(f"generated {clips} clips ({args.distinct} distinct media sets) in {time.perf_counter() - started:.0f} s")
        out = work / f"out{clips}"
        shutil.rmtree(out, ignore_errors=True)
        common = dict(mode="tvqa", spec=str(spec_path), root=str(work / f"tvqa{clips}"), out=str(out), rates=rates)
        cold = run_child(REPO, **common, workers=args.workers)
        print_stages(cold, rates, clips)
        media = sum(sizes.values()) / len(sizes)
        parts = {name: folder_bytes(out / name) / clips for name in ("work", "stages", "cache.sqlite", "media")}
        intermediate = parts["work"] + parts["stages"] + parts["cache.sqlite"]
        print(
            f"peak RSS: build {cold['rss_mib']:.0f} MiB, largest media worker {cold['worker_rss_mib']:.0f} MiB; "
            f"per clip: own media {media / 2**20:.2f} MiB, "
            + ", ".join(f"{name} {value / 2**20:.3f} MiB" for name, value in parts.items())
            + f"; intermediate (work + stages + cache) / own media {intermediate / media:.3f}, "
            f"muxed clips / own media {parts['media'] / media:.2f}"
        )
        for name in ("stages", "release"):
            shutil.rmtree(out / name, ignore_errors=True)
        warm = run_child(REPO, **common, workers=args.workers)
        report = warm["report"]
        decodes = warm["decoded_here"] + sum(s.get("media_decodes", 0) for s in report["stages"])
        print(
            f"warm rebuild (cache and muxed clips kept): {report['model_calls']['backend_calls']} backend calls, "
            f"{report['model_calls']['cache_hits']} cache hits, {decodes} media decodes, {warm['seconds']:.1f} s"
        )


def print_stages(result: dict[str, Any], rates: dict[str, float], clips: int) -> None:
    header = ("stage", "requests", "model s", "wall s", "cpu s", "media cpu s", "media wait s", "wall/model")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (10, 9, 8, 8, 7, 12, 13, 11), strict=True)))
    model_total = 0.0
    for stage in result["report"]["stages"]:
        role = STAGE_ROLE.get(stage["name"])
        sent = stage["requests"] - stage["cache_hits"]
        model = sent / rates[role] if role and stage["requests"] and rates.get(role) else 0.0
        model_total += model
        ratio = f"{stage['seconds'] / model:.3f}" if model else "-"
        print(
            f"{stage['name']:>10} {stage['requests']:>9} {model:>8.1f} {stage['seconds']:>8.1f} "
            f"{stage.get('cpu_seconds', 0):>7.1f} {stage.get('media_cpu_seconds', 0):>12.1f} "
            f"{stage.get('media_wait_seconds', 0):>13.1f} {ratio:>11}"
        )
    print(
        f"{'build':>10} {result['report']['model_calls']['requests']:>9} {model_total:>8.1f} {result['seconds']:>8.1f} "
        f"{result['cpu']:>7.1f} {'':>12} {'':>13} {result['seconds'] / max(model_total, 1e-9):>11.3f}   "
        f"({result['seconds'] / clips:.2f} s per clip; simulated model time slept: {result['slept']:.1f} s)"
    )


def synthetic_mode(args: argparse.Namespace, work: Path) -> None:
    from builder.sample.generate import generate_sample_tvqa, sample_spec

    trees = {"new": REPO}
    if args.baseline:
        base = work / "baseline"
        if not base.is_dir():
            base.mkdir()
            archive = subprocess.run(["git", "archive", args.baseline], cwd=REPO, check=True, capture_output=True)
            subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        trees["baseline"] = base
    peaks = {}
    for clips in args.clips:
        spec = sample_spec(clips, 0)
        spec_path = work / f"synthetic{clips}.json"
        spec_path.write_text(json.dumps(spec))
        started = time.perf_counter()
        root = generate_sample_tvqa(work / f"synthetic{clips}", spec=spec)
        print(f"generated {clips} synthetic clips in {time.perf_counter() - started:.0f} s")
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        for repeat in range(args.repeats):
            for name, tree in trees.items():
                out = work / f"out-{name}-{clips}"
                shutil.rmtree(out, ignore_errors=True)
                runs[name].append(run_child(tree, mode="synthetic", spec=str(spec_path), root=str(root), out=str(out)))
                print(f"  {clips} clips, run {repeat + 1}, {name}: {runs[name][-1]['seconds']:.1f} s", flush=True)
        for name, results in runs.items():
            seconds = statistics.median(r["seconds"] for r in results)
            cpu = statistics.median(r["cpu"] for r in results)
            rss = max(r["rss_mib"] for r in results)
            harness = max(r["harness_mib"] for r in results)
            peaks.setdefault(name, {})[clips] = (rss, rss - harness)
            print(
                f"{name:>9}: {clips} clips, median {seconds:.2f} s ({1000 * seconds / clips:.1f} ms per clip), "
                f"CPU {cpu:.2f} s ({1000 * cpu / clips:.1f} ms per clip), peak RSS {rss:.0f} MiB "
                f"(before the build, with the spec and the scripted backend loaded: {harness:.0f} MiB)"
            )
        if "baseline" in runs:
            ratios = [b["seconds"] / n["seconds"] for n, b in zip(runs["new"], runs["baseline"], strict=True)]
            cpu_ratios = [b["cpu"] / n["cpu"] for n, b in zip(runs["new"], runs["baseline"], strict=True)]
            pairs = ", ".join(f"{r:.2f}" for r in ratios)
            print(
                f"baseline / new per clip: wall {statistics.median(ratios):.2f}x (pairs {pairs}), "
                f"CPU {statistics.median(cpu_ratios):.2f}x"
            )
    for name, by_scale in peaks.items():
        if len(by_scale) > 1:
            low, high = min(by_scale), max(by_scale)
            (peak_high, grown_high), (peak_low, grown_low) = by_scale[high], by_scale[low]
            print(
                f"{name}: peak RSS {high} vs {low} clips: {peak_high / peak_low:.3f}x; "
                f"what the build added to the harness: {grown_high:.0f} vs {grown_low:.0f} MiB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, nargs="+", default=[40], help="Clips to build (several: one build each).")
    parser.add_argument(
        "--synthetic", action="store_true", help="Generated sample clips, scripted backend, no latency."
    )
    parser.add_argument("--baseline", help="Synthetic mode: also build with the code of this commit, alternating.")
    parser.add_argument("--repeats", type=int, default=1, help="Synthetic mode: builds per tree (medians).")
    parser.add_argument("--rates", default="caption=10,text=30,voice=3", help="Simulated requests/s per role.")
    parser.add_argument("--workers", type=int, default=None, help="--media-workers of the build (default: its own).")
    parser.add_argument("--distinct", type=int, default=20, help="Distinct media sets, hard-linked across clips.")
    parser.add_argument("--seconds", type=float, default=90.0, help="Clip length.")
    parser.add_argument("--cues", type=int, default=24, help="Subtitle cues per clip.")
    parser.add_argument("--size", default="640x360", help="Frame size WIDTHxHEIGHT.")
    parser.add_argument("--workdir", type=Path, help="Keep generated roots here (reused by later runs).")
    args = parser.parse_args()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        (synthetic_mode if args.synthetic else tvqa_mode)(args, args.workdir)
        return
    with tempfile.TemporaryDirectory() as tmp:
        (synthetic_mode if args.synthetic else tvqa_mode)(args, Path(tmp))


if __name__ == "__main__":
    main()
