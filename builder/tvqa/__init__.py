"""Readers for a TVQA download: QA jsonl, speaker-tagged subtitles, clips (mp4 or frames + audio)."""

from builder.tvqa.media import ClipMedia, audio_duration, locate_media, mux_frames, probe_duration
from builder.tvqa.qa import TvqaQuestion, iter_qa_files, read_qa_file, show_prefix
from builder.tvqa.subtitles import Cue, SubtitleError, read_subtitles

__all__ = [
    "ClipMedia",
    "Cue",
    "SubtitleError",
    "TvqaQuestion",
    "audio_duration",
    "iter_qa_files",
    "locate_media",
    "mux_frames",
    "probe_duration",
    "read_qa_file",
    "read_subtitles",
    "show_prefix",
]
