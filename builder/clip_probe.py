"""Check that a clip decodes, and split it into its video and audio streams, for an ``embed`` export
(PyAV; no torch)."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import av


class ClipDecodeError(ValueError):
    """A clip whose container, video or audio stream cannot be decoded; the message names the clip."""


def probe_clip(path: str | Path, clip_id: str) -> None:
    """Open ``path``, read every packet and decode the first video frame and the first audio frame.

    A truncated or corrupt file, or one without a video or an audio stream, raises ``ClipDecodeError``.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video or not container.streams.audio:
                kinds = sorted({stream.type for stream in container.streams})
                raise ClipDecodeError(f"clip {clip_id}: {path} needs a video and an audio stream (has {kinds})")
            decoded = {"video": False, "audio": False}
            for packet in container.demux(container.streams.video[0], container.streams.audio[0]):
                kind = packet.stream.type
                if not decoded[kind] and packet.size:
                    decoded[kind] = bool(packet.decode())
            missing = [kind for kind, ok in decoded.items() if not ok]
            if missing:
                raise ClipDecodeError(f"clip {clip_id}: {path}: no decodable {' or '.join(missing)} frame")
    except ClipDecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError) as err:
        raise ClipDecodeError(f"clip {clip_id}: {path} cannot be decoded ({err})") from None


@lru_cache(maxsize=64)
def stream_copy(path: str, kind: str) -> bytes:
    """The ``kind`` ("video" or "audio") stream of ``path`` alone, copied without re-encoding into an
    in-memory mp4. An embedded row stores the clip as these two, so no byte of it is stored twice."""
    buffer = io.BytesIO()
    with av.open(path) as source, av.open(buffer, "w", format="mp4") as target:
        stream = source.streams.video[0] if kind == "video" else source.streams.audio[0]
        copy = target.add_stream_from_template(stream)
        for packet in source.demux(stream):
            if packet.dts is None:  # the demuxer's final flush packet
                continue
            packet.stream = copy
            target.mux(packet)
    return buffer.getvalue()
