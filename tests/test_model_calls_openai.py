"""The ``openai`` backend against a local fake OpenAI-compatible server on 127.0.0.1: request
building (media parts, JSON schema), bounded concurrency, retries with backoff, timeouts."""

from __future__ import annotations

import base64
import io
import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from model_calls import ModelRequest, get_backend
from model_calls.openai_backend import build_payload


class FakeServer:
    """Answers chat completions; the user text steers it: SLOW (0.2 s), HANG (2 s), FAIL_ONCE (500 first), BAD (400)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.seen: list[dict] = []
        self.failed: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                text = "".join(p["text"] for p in body["messages"][-1]["content"] if p["type"] == "text")
                with server.lock:
                    server.seen.append(body)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(0.2 if "SLOW" in text else 2.0 if "HANG" in text else 0)
                    if "BAD" in text:
                        return self._send(400, {"error": {"message": "bad request", "type": "invalid_request_error"}})
                    if "FAIL_ONCE" in text and text not in server.failed:
                        server.failed.add(text)
                        return self._send(500, {"error": {"message": "try again", "type": "server_error"}})
                    parts = [p["type"] for p in body["messages"][-1]["content"]]
                    content = json.dumps({"echo": text, "parts": parts})
                    self._send(
                        200,
                        {
                            "id": "x",
                            "object": "chat.completion",
                            "created": 0,
                            "model": body["model"],
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": content},
                                }
                            ],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                        },
                    )
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


class QuietServer(ThreadingHTTPServer):
    """The fake server: a client that gave up on a slow reply (the timeout tests) is not a traceback."""

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    thread = threading.Thread(target=fake.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.httpd.shutdown()
        fake.httpd.server_close()
        thread.join(timeout=5)


def text_request(text: str, model: str = "m") -> ModelRequest:
    return ModelRequest(
        model=model,
        messages=({"role": "user", "content": [{"type": "text", "text": text}]},),
        sampling={"temperature": 0.0, "max_tokens": 8},
    )


def test_payload_carries_media_schema_and_sampling(tmp_path: Path) -> None:
    import soundfile as sf
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 0, 0)).save(tmp_path / "f.jpg")
    sf.write(tmp_path / "a.wav", np.zeros(32000, dtype=np.float32), 16000)
    (tmp_path / "v.mp4").write_bytes(b"not really a video")
    request = ModelRequest(
        model="Qwen/Qwen3-8B",
        messages=(
            {
                "role": "user",
                "content": [
                    {"type": "image", "image": str(tmp_path / "f.jpg")},
                    {"type": "audio", "audio": str(tmp_path / "a.wav"), "start": 0.5, "end": 1.0},
                    {"type": "video", "video": str(tmp_path / "v.mp4")},
                    {"type": "text", "text": "describe"},
                ],
            },
        ),
        prompt_version="caption.v1",
        sampling={"temperature": 0.0, "max_tokens": 32, "seed": 0, "enable_thinking": False},
        json_schema={"type": "object", "properties": {"description": {"type": "string"}}},
    )
    payload = build_payload(request)
    image, audio, video, text = payload["messages"][0]["content"]
    assert image["type"] == "image_url" and image["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert base64.b64decode(image["image_url"]["url"].split(",", 1)[1]) == (tmp_path / "f.jpg").read_bytes()
    assert audio["type"] == "input_audio" and audio["input_audio"]["format"] == "wav"
    samples, rate = sf.read(io.BytesIO(base64.b64decode(audio["input_audio"]["data"])))
    assert rate == 16000 and len(samples) == 8000  # cut to [0.5, 1.0) s
    assert video == {
        "type": "video_url",
        "video_url": {"url": "data:video/mp4;base64," + base64.b64encode(b"not really a video").decode()},
    }
    assert text == {"type": "text", "text": "describe"}
    assert payload["response_format"]["type"] == "json_schema"
    assert payload["response_format"]["json_schema"]["schema"] == request.json_schema
    assert payload["extra_body"] == {"chat_template_kwargs": {"enable_thinking": False}}
    assert (payload["temperature"], payload["max_tokens"], payload["seed"]) == (0.0, 32, 0)
    file_payload = build_payload(request, media="file")
    assert file_payload["messages"][0]["content"][0]["image_url"]["url"] == (tmp_path / "f.jpg").resolve().as_uri()


def test_batch_runs_concurrently_within_the_bound(server: FakeServer) -> None:
    backend = get_backend("openai", base_url=server.url, concurrency=3, backoff=0.01)
    requests = [text_request(f"SLOW {i}") for i in range(9)]
    responses = backend.generate(requests)
    assert [json.loads(r.text)["echo"] for r in responses] == [f"SLOW {i}" for i in range(9)]
    assert [r.key for r in responses] == [r.key() for r in requests]
    assert backend.calls == 1 and 2 <= server.max_in_flight <= 3


def test_transient_errors_are_retried_and_client_errors_are_not(server: FakeServer) -> None:
    backend = get_backend("openai", base_url=server.url, concurrency=4, backoff=0.01, max_retries=2)
    ok, bad = backend.generate([text_request("FAIL_ONCE a"), text_request("BAD b")])
    assert ok.ok and json.loads(ok.text)["echo"] == "FAIL_ONCE a"
    assert not bad.ok and "400" in bad.error
    assert backend.retries == 1
    assert sum(1 for body in server.seen if "BAD" in body["messages"][-1]["content"][0]["text"]) == 1


def test_timeouts_and_unreachable_servers_become_error_responses(server: FakeServer) -> None:
    slow = get_backend("openai", base_url=server.url, timeout=0.3, max_retries=1, backoff=0.01)
    (response,) = slow.generate([text_request("HANG")])
    assert not response.ok and "Timeout" in response.error and "after 2 tries" in response.error
    down = get_backend("openai", base_url="http://127.0.0.1:9/v1", timeout=1.0, max_retries=1, backoff=0.01)
    (response,) = down.generate([text_request("hello")])
    assert not response.ok and "Connection" in response.error


def test_unreadable_media_fail_that_request_only(server: FakeServer, tmp_path: Path) -> None:
    backend = get_backend("openai", base_url=server.url, backoff=0.01)
    missing = ModelRequest(
        model="m",
        messages=(
            {
                "role": "user",
                "content": [{"type": "text", "text": "x"}, {"type": "audio", "audio": str(tmp_path / "gone.mp3")}],
            },
        ),
    )
    bad, good = backend.generate([missing, text_request("fine")])
    assert not bad.ok and "gone.mp3" in bad.error
    assert good.ok and len(server.seen) == 1


def test_roles_can_use_different_servers() -> None:
    from model_calls.router import routed_backend

    servers = [FakeServer(), FakeServer()]
    threads = [
        threading.Thread(target=s.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True) for s in servers
    ]
    for thread in threads:
        thread.start()
    try:
        backend = routed_backend(
            "openai", {"backoff": 0.01}, {"vlm": {"base_url": servers[0].url}, "llm": {"base_url": servers[1].url}}
        )
        responses = backend.generate([text_request("a", "vlm"), text_request("b", "llm"), text_request("c", "vlm")])
        assert all(r.ok for r in responses) and backend.calls == 2
        assert [b["model"] for b in servers[0].seen] == ["vlm", "vlm"] and [b["model"] for b in servers[1].seen] == [
            "llm"
        ]
    finally:
        for server, thread in zip(servers, threads, strict=True):
            server.httpd.shutdown()
            server.httpd.server_close()
            thread.join(timeout=5)


def test_a_video_segment_goes_to_the_server_as_the_shared_sampler_cuts_it(sample_tvqa_root: Path, tmp_path) -> None:
    from model_calls.media import Segment, decode_audio, sample_segment
    from model_calls.presets import input_preset

    clip = next((sample_tvqa_root / "videos").glob("*.mp4"))
    part = {"type": "video", "video": str(clip), "start": 1.0, "end": 5.0, "fps": 2.0, "max_frames": 64}
    part |= {"max_pixels": 6272, "min_pixels": 3136, "audio_in_video": True}
    request = ModelRequest(model="m", messages=({"role": "user", "content": [part, {"type": "text", "text": "Q?"}]},))
    payload = build_payload(request)
    video, _ = payload["messages"][0]["content"]
    data = base64.b64decode(video["video_url"]["url"].split(",", 1)[1])
    assert payload["extra_body"]["mm_processor_kwargs"] == {
        "fps": 2.0, "max_pixels": 6272, "min_pixels": 3136, "use_audio_in_video": True,
    }  # fmt: skip
    preset = input_preset("generic").with_overrides(max_pixels=6272, min_pixels=3136)
    expected = sample_segment(clip, Segment(1.0, 5.0), preset)
    sent = sample_segment(data, Segment(0.0, None), preset.with_overrides(max_frames=len(expected.times)))
    assert len(sent.times) == len(expected.times) == 8 and sent.frames.shape == expected.frames.shape
    # H.264 re-encoding changes pixels a little, not which frames they are
    assert np.abs(sent.frames.astype(int) - expected.frames.astype(int)).mean() < 6
    sent_audio = decode_audio(data, Segment(0.0, None))
    assert abs(len(sent_audio) - 4 * 16_000) < 2048  # the segment's 4 s of audio, AAC frame padding aside
    # a bare video part (no segment, no sampling fields) is sent as the file itself
    bare = ModelRequest(model="m", messages=({"role": "user", "content": [{"type": "video", "video": str(clip)}]},))
    (sent_bare,) = build_payload(bare)["messages"][0]["content"]
    assert base64.b64decode(sent_bare["video_url"]["url"].split(",", 1)[1]) == clip.read_bytes()
