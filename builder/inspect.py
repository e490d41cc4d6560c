"""``crossomni inspect``: what a TVQA root holds, in seconds and without a model.

Which layout was found for the QA files, subtitles, frames, audio and videos; per show how many
clips the QA files name and how many have subtitles, named speakers, frames, audio, a video, and
are usable; the top reasons a clip is unusable, with example clip ids. Uses the same readers and
checks as the build's preprocess stage, except the two that decode media (muxing, duration)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from builder.tvqa import TvqaRoot, resolve_show, show_prefix

COUNT_COLUMNS = ("in_qa", "subtitles", "named_speakers", "frames", "audio", "video", "usable")
EXAMPLES_PER_REASON = 2


@dataclass
class ReasonCount:
    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class InspectReport:
    root: str
    qa_source: str = ""
    qa_files: list[str] = field(default_factory=list)
    not_qa_files: list[str] = field(default_factory=list)
    ignored_qa_files: list[str] = field(default_factory=list)
    bad_qa_lines: int = 0
    subtitles: str = ""
    layout: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> pattern -> clips found with it
    per_show: dict[str, dict[str, int]] = field(default_factory=dict)
    reasons: dict[str, ReasonCount] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def usable(self) -> int:
        return sum(counts["usable"] for counts in self.per_show.values())

    def top_reasons(self, n: int = 3) -> list[tuple[str, ReasonCount]]:
        return sorted(self.reasons.items(), key=lambda kv: (-kv[1].count, kv[0]))[:n]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "usable": self.usable}


def inspect_root(
    root: TvqaRoot, shows: tuple[str, ...] = (), min_tagged_fraction: float = 0.5, limit: int | None = None
) -> InspectReport:
    """Count what ``root`` holds for every clip its QA files name (``TvqaRootError`` when it has none)."""
    started = time.perf_counter()
    report = InspectReport(root=str(root.root))
    wanted = {resolve_show(s) for s in shows}
    layout: dict[str, Counter[str]] = {kind: Counter() for kind in ("subtitles", "video", "frames", "audio")}
    seen: set[str] = set()
    for question, _error in root.questions():
        if question is None:
            report.bad_qa_lines += 1
            continue
        vid = question.vid_name
        if vid in seen or (wanted and show_prefix(vid) not in wanted):
            continue
        if limit is not None and len(seen) >= limit:
            break
        seen.add(vid)
        counts = report.per_show.setdefault(question.show, dict.fromkeys(COUNT_COLUMNS, 0))
        counts["in_qa"] += 1
        try:
            inputs = root.inputs(vid, show_prefix(vid), min_tagged_fraction)
        except Exception:  # the per-clip guard, as in preprocess
            _note(report, "input-error", vid)
            continue
        if inputs.subtitle_source:
            counts["subtitles"] += 1
            layout["subtitles"][inputs.subtitle_source] += 1
        counts["named_speakers"] += bool(inputs.named)
        for kind in ("video", "frames", "audio"):
            found = getattr(inputs.media, kind) if inputs.media else None
            if found:
                counts[kind] += 1
                layout[kind][found[1]] += 1
        if inputs.reason:
            _note(report, inputs.reason, vid)
        else:
            counts["usable"] += 1
    qa = root.qa
    report.qa_source = qa.source
    report.qa_files = [p.name for p in qa.paths]
    report.not_qa_files = [str(p.relative_to(root.root)) for p in qa.not_qa]
    report.ignored_qa_files = [str(p.relative_to(root.root)) for p in qa.ignored]
    index = root.subtitle_index
    srt = ", ".join(root.layout.candidates("subtitles", "friends")[:1])
    report.subtitles = (
        f"{index.path.relative_to(root.root)} ({len(index)} clips; {len(index.bad_lines)} unreadable lines, "
        f"{len(index.duplicates)} duplicates), else {srt}"
        if index is not None
        else f"per-clip .srt ({srt} and {len(root.layout.candidates('subtitles', 'friends')) - 1} other patterns)"
    )
    jsonl_name = str(index.path.relative_to(root.root)) if index is not None else "jsonl"
    report.layout = {
        kind: {(jsonl_name if p == "jsonl" else p): n for p, n in c.most_common()} for kind, c in layout.items()
    }
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _note(report: InspectReport, reason: str, vid: str) -> None:
    entry = report.reasons.setdefault(reason, ReasonCount())
    entry.count += 1
    if len(entry.examples) < EXAMPLES_PER_REASON:
        entry.examples.append(vid)


def render_report(report: InspectReport) -> str:
    """The report as plain text: layouts found, a table per show, the top reasons."""
    lines = [f"TVQA root: {report.root}"]
    lines.append(f"QA files: {report.qa_source}: {', '.join(report.qa_files)} ({report.bad_qa_lines} bad lines)")
    if report.not_qa_files:
        lines.append(f"  not QA (no q/a0/vid_name keys), not read: {', '.join(report.not_qa_files)}")
    if report.ignored_qa_files:
        lines.append(f"  QA files of another layout, not read: {', '.join(report.ignored_qa_files)}")
    lines.append(f"subtitle source: {report.subtitles}")
    for kind, patterns in report.layout.items():
        found = ", ".join(f"{p} ({n} clips)" for p, n in patterns.items()) or "nothing"
        lines.append(f"{kind} found as: {found}")
    header = ["show", *COUNT_COLUMNS]
    rows = [[show, *(str(c[k]) for k in COUNT_COLUMNS)] for show, c in sorted(report.per_show.items())]
    total = {k: sum(c[k] for c in report.per_show.values()) for k in COUNT_COLUMNS}
    rows.append(["all", *(str(total[k]) for k in COUNT_COLUMNS)])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines.append("")
    for row in [header, *rows]:
        lines.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    if report.reasons:
        lines.append("")
        lines.append("top reasons a clip is unusable:")
        for reason, entry in report.top_reasons(len(report.reasons)):
            lines.append(f"  {reason}: {entry.count} (e.g. {', '.join(entry.examples)})")
    lines.append("")
    lines.append(
        f"{report.usable} usable clips (not checked here: media decoding, and cue times against the clip's length)"
        f" — {report.seconds:.1f}s"
    )
    return "\n".join(lines)
