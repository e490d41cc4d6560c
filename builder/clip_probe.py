"""Check that a clip decodes, and split it into its video and audio streams, for an ``embed`` export
(PyAV; no torch)."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import av


class ClipDecodeError(ValueError):
    """A clip whose container, video or audio stream cannot be decoded; the message names the clip."""


def probe_clip(path: str | Path, clip_id: str, kinds: tuple[str, ...] = ("video", "audio")) -> None:
    """Open ``path``, read every packet and decode the first frame of each stream kind in ``kinds``.

    A truncated or corrupt file, or one without a stream it should have, raises ``ClipDecodeError``.
    """
    try:
        with av.open(str(path)) as container:
            streams = {kind: getattr(container.streams, kind) for kind in kinds}
            missing = [kind for kind, found in streams.items() if not found]
            if missing:
                raise ClipDecodeError(f"clip {clip_id}: {path} has no {' or '.join(missing)} stream")
            decoded = dict.fromkeys(kinds, False)
            for packet in container.demux(*(found[0] for found in streams.values())):
                kind = packet.stream.type
                if not decoded[kind] and packet.size:
                    decoded[kind] = bool(packet.decode())
            undecoded = [kind for kind, ok in decoded.items() if not ok]
            if undecoded:
                raise ClipDecodeError(f"clip {clip_id}: {path}: no decodable {' or '.join(undecoded)} frame")
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
