"""Readers for a TVQA download: QA files, speaker-tagged subtitles, clips (mp4 or frames + audio)."""

from builder.tvqa.layout import ClipMedia, MediaLayout, locate_media, lookup_media
from builder.tvqa.media import audio_duration, mux_frames, probe_duration
from builder.tvqa.qa import TvqaQuestion, find_qa_files, iter_qa_files, read_qa_file, safe_vid_name
from builder.tvqa.root import ClipInputs, TvqaRoot, TvqaRootError, timestamp_problem
from builder.tvqa.shows import SHOWS, resolve_show, show_name, show_prefix
from builder.tvqa.subtitles import Cue, SubtitleError, SubtitleIndex, read_subtitles

__all__ = [
    "SHOWS",
    "ClipInputs",
    "ClipMedia",
    "Cue",
    "MediaLayout",
    "SubtitleError",
    "SubtitleIndex",
    "TvqaQuestion",
    "TvqaRoot",
    "TvqaRootError",
    "audio_duration",
    "find_qa_files",
    "iter_qa_files",
    "locate_media",
    "lookup_media",
    "mux_frames",
    "probe_duration",
    "read_qa_file",
    "read_subtitles",
    "resolve_show",
    "safe_vid_name",
    "show_name",
    "show_prefix",
    "timestamp_problem",
]
