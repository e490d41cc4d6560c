"""Configuration of a build: paths and layout of the TVQA root, models per role, stage settings."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from builder.tvqa.layout import MEDIA_KINDS, MediaLayout, check_fps, check_pattern, check_qa_glob, check_subtitles
from crossomni import TASK_NAMES
from model_calls.redaction import redact, shown
from model_calls.store import load_yaml

ROLES = ("caption", "text", "voice")
# Backends whose replies come from the role's model; any other (the sample's scripted backend, a replay of recorded
# replies, a user's own class) answers in its place, and the report and release.json say so.
MODEL_BACKENDS = ("vllm", "openai", "transformers", "ray")
STAND_INS = {
    "scripted": "the scripted sample backend (answers from the sample spec)",
    "replay": "replayed recorded replies",
}
QA_GENERATORS = ("template", "llm")


@dataclass(frozen=True)
class RoleConfig:
    """The model serving one role and how it is sampled."""

    model: str
    batch_size: int = 32
    sampling: dict[str, Any] = field(default_factory=dict)
    backend_options: dict[str, Any] = field(default_factory=dict)  # e.g. base_url, tensor_parallel_size

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"model must be a model id (a non-empty string), got {shown(self.model)}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1, got {shown(self.batch_size)}")
        for name in ("sampling", "backend_options"):
            value = getattr(self, name)
            if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
                raise ValueError(f"{name} must be a mapping of names to values, got {shown(value)}")


ROLE_FIELDS = ("model", "batch_size", "sampling", "backend_options")


@dataclass(frozen=True)
class ModelsConfig:
    caption: RoleConfig
    text: RoleConfig
    voice: RoleConfig

    @classmethod
    def load(cls, path: str | Path | None = None) -> ModelsConfig:
        """Read a models YAML (default: the packaged ``builder/models.yaml``); a bad one is a ``ValueError``
        naming the file and the field."""
        if path is None:
            text = resources.files("builder").joinpath("models.yaml").read_text(encoding="utf-8")
            source = "builder/models.yaml"
        else:
            source = str(path)
            try:
                text = Path(path).read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{source}: not a UTF-8 text file") from None
        data = load_yaml(text, source)
        roles = data.get("roles") if isinstance(data, dict) else None
        if not isinstance(roles, dict):
            raise ValueError(f"{source}: expected a mapping with a top-level 'roles' mapping (caption, text, voice)")
        unknown = set(map(str, roles)) - set(ROLES)
        missing = set(ROLES) - set(roles)
        if unknown or missing:
            raise ValueError(
                f"{source}: roles must be exactly {', '.join(ROLES)} "
                f"(unknown: {shown(sorted(unknown))}, missing: {sorted(missing)})"
            )
        parsed = {}
        for role, spec in roles.items():
            where = f"{source}: roles.{role}"
            if not isinstance(spec, dict) or "model" not in spec or set(spec) - set(ROLE_FIELDS):
                keys = sorted(map(str, spec)) if isinstance(spec, dict) else shown(spec)
                raise ValueError(
                    f"{where} must be a mapping with 'model' and optionally {', '.join(ROLE_FIELDS[1:])} (got {keys})"
                )
            try:
                parsed[role] = RoleConfig(
                    model=spec["model"],
                    batch_size=spec.get("batch_size", 32),
                    sampling={} if spec.get("sampling") is None else spec["sampling"],
                    backend_options={} if spec.get("backend_options") is None else spec["backend_options"],
                )
            except ValueError as err:
                raise ValueError(f"{where}.{err}") from None
        return cls(**parsed)

    def to_dict(self) -> dict[str, Any]:
        """The roles as written to build.json, release.json and report.json (secrets redacted)."""
        return redact(asdict(self))

    def options_by_model(self) -> dict[str, dict[str, Any]]:
        """Extra backend options per model id (roles sharing a model share them)."""
        out: dict[str, dict[str, Any]] = {}
        for role in ROLES:
            config: RoleConfig = getattr(self, role)
            out.setdefault(config.model, {}).update(config.backend_options)
        return out


@dataclass(frozen=True)
class TvqaLayout:
    """Where the files of a TVQA root are; ``None`` everywhere means: find them (``builder/tvqa/layout.py``).

    Single patterns (``--layout KEY=PATTERN``, with ``{vid_name}`` and ``{show}``, the show prefix)
    replace the built-in candidates of their kind; ``file`` is a ``--layout-file`` with defaults and
    per-show overrides. ``subtitles`` is an ``.srt`` pattern or the path of the preprocessed jsonl.
    """

    qa_glob: str | None = None
    subtitles: str | None = None
    video: str | None = None
    frames: str | None = None
    audio: str | None = None
    frames_fps: float | None = None
    file: MediaLayout | None = None

    def __post_init__(self) -> None:
        """Each single value is checked as a layout file's would be; a bad one raises ``LayoutError``."""
        if self.qa_glob is not None:
            check_qa_glob(self.qa_glob)
        if self.subtitles is not None:
            check_subtitles(self.subtitles)
        for kind in MEDIA_KINDS:
            if getattr(self, kind) is not None:
                check_pattern(getattr(self, kind), (kind,))
        if self.frames_fps is not None:
            object.__setattr__(self, "frames_fps", check_fps(self.frames_fps))

    def media(self) -> MediaLayout:
        """The media layout: the file's, with the single patterns as defaults over it."""
        base = self.file or MediaLayout()
        single = {kind: (getattr(self, kind),) for kind in MEDIA_KINDS if getattr(self, kind)}
        if self.subtitles and "{" in self.subtitles:  # an .srt pattern (else: the jsonl's path)
            single["subtitles"] = (self.subtitles,)
        fps = base.frames_fps if self.frames_fps is None else self.frames_fps
        return MediaLayout({**base.defaults, **single}, base.shows, fps)

    def to_dict(self) -> dict[str, Any]:
        return {"qa_glob": self.qa_glob, "subtitles": self.subtitles, **self.media().to_dict()}


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ValueError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
        if not 0 <= index < count:
            raise ValueError(f"--shard {text}: need 0 <= i < n")
        return cls(index, count)

    def owns(self, episode: str) -> bool:
        """Shards own whole episodes, so a merged build can never leak an episode across splits."""
        if self.count == 1:
            return True
        return int(hashlib.sha256(episode.encode()).hexdigest(), 16) % self.count == self.index


@dataclass(frozen=True)
class BuildConfig:
    """Everything a build depends on. Only fields in ``release_settings`` shape the release."""

    tvqa_root: Path
    out: Path
    backend: str = "replay"
    backend_options: dict[str, Any] = field(default_factory=dict)
    models: ModelsConfig = field(default_factory=ModelsConfig.load)
    layout: TvqaLayout = field(default_factory=TvqaLayout)
    shows: tuple[str, ...] = ()
    limit: int | None = None
    shard: Shard = field(default_factory=Shard)
    qa_generator: str = "template"
    seed: int = 0
    test_fraction: float = 0.5
    task_proportions: dict[str, float] | None = None
    per_task_per_clip: int = 1
    frames_per_segment: int = 2
    min_tagged_fraction: float = 0.5
    batch_size: int | None = None  # overrides every role's batch size
    # processes for media work: muxing frame folders in preprocess (None: one per CPU) and decoding the
    # next batches' media during model stages (None: half the CPUs); 0: none, all in this process
    media_workers: int | None = None
    cache_path: Path | None = None
    progress: bool = True
    name: str = "crossomni"
    blind_filter: int = 0  # K > 0: drop instances the text-only model answers under K option orders
    max_shortcut_accuracy: float = 0.40  # the audit fails the build when a large group's baseline exceeds it
    overwrite: bool = False  # build into an ``out`` folder that is not a build folder (model_calls.outputs)

    def __post_init__(self) -> None:
        if self.qa_generator not in QA_GENERATORS:
            raise ValueError(f"qa generator must be one of {QA_GENERATORS}, got {self.qa_generator!r}")
        if not 0.0 <= self.test_fraction <= 1.0:
            raise ValueError(f"test fraction must be in [0, 1], got {self.test_fraction}")
        for task, weight in (self.task_proportions or {}).items():
            if task not in TASK_NAMES or not (isinstance(weight, int | float) and 0 <= weight < float("inf")):
                raise ValueError(f"task proportion {task}={weight}: task must be one of {TASK_NAMES}, weight >= 0")
        if self.blind_filter < 0 or not 0.0 <= self.max_shortcut_accuracy <= 1.0:
            raise ValueError("blind filter must be >= 0 and max shortcut accuracy in [0, 1]")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError("batch size must be >= 1")
        if self.media_workers is not None and self.media_workers < 0:
            raise ValueError("media workers must be >= 0 (0: the backend decodes as it sends)")

    def role(self, name: str) -> RoleConfig:
        role: RoleConfig = getattr(self.models, name)
        if self.batch_size is not None:
            role = RoleConfig(role.model, self.batch_size, role.sampling, role.backend_options)
        return role

    def blind_role(self) -> RoleConfig:
        """The text-only model of the shortcut audit: the text role's model."""
        return self.role("text")

    def answered_by(self, role: str) -> str:
        """What answers a role's requests in this build: its model on a model backend, else the stand-in that
        replied in its place (``scripted backend``/``replay``: no model ran).

        >>> BuildConfig(Path("t"), Path("o"), backend="scripted").answered_by("text")
        'the scripted sample backend (answers from the sample spec), no model: requests named Qwen/Qwen3-8B'
        >>> BuildConfig(Path("t"), Path("o"), backend="vllm").answered_by("text")
        'Qwen/Qwen3-8B'
        """
        model = self.role(role).model
        if self.backend in MODEL_BACKENDS:
            return model
        stand_in = STAND_INS.get(self.backend, f"the {self.backend} backend")
        return f"{stand_in}, no model: requests named {model}"

    def answered_by_roles(self) -> dict[str, str]:
        return {role: self.answered_by(role) for role in ROLES}

    @property
    def stages_dir(self) -> Path:
        return self.out / "stages"

    @property
    def release_dir(self) -> Path:
        return self.out / "release"

    @property
    def media_dir(self) -> Path:
        """The derived media root: clips muxed from TVQA frame folders (``<vid>.mp4``), and in a
        release with any of them, links to the referenced mp4s too (never published)."""
        return self.out / "media"

    def stage_settings(self) -> dict[str, Any]:
        """What the stage outputs depend on (a resumed build must match; backend and batch size may change).

        Written to build.json: secrets are redacted (a changed key alone never invalidates a build)."""
        return redact(
            {
                **self.release_settings(),
                "tvqa_root": str(self.tvqa_root.resolve()),
                "layout": self.layout.to_dict(),
                "frames_per_segment": self.frames_per_segment,
                "min_tagged_fraction": self.min_tagged_fraction,
            }
        )

    def release_settings(self) -> dict[str, Any]:
        """The settings that shape the release, as release.json records them (secrets redacted)."""
        return redact(
            {
                "models": self.models.to_dict(),
                "qa_generator": self.qa_generator,
                "seed": self.seed,
                "test_fraction": self.test_fraction,
                "task_proportions": self.task_proportions,
                "per_task_per_clip": self.per_task_per_clip,
                "shard": f"{self.shard.index}/{self.shard.count}",
                "shows": list(self.shows),
                "limit": self.limit,
                "blind_filter": self.blind_filter,
            }
        )
