"""The page server against a hostile client: Host/Origin/token rules, malformed requests, which files it serves.

A real server on a loopback port; the malformed requests go over raw sockets, so nothing on the client
side tidies them up. Every answer must be a status with a short JSON error, never a dropped connection.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from builder.review.app import ReviewApp
from builder.review.decisions import read_decisions
from evaluation.web.server import ApiError, PageServer, ServedFiles, serve, startup_lines

SAMPLE_RELEASE = Path(__file__).resolve().parents[1] / "builder" / "sample" / "release"
_FIRST_TEST = json.loads((SAMPLE_RELEASE / "test.jsonl").read_text(encoding="utf-8").split("\n")[0])
CLIP = f"videos/{_FIRST_TEST['clip_id']}.mp4"
AUDIO_ID = f"{_FIRST_TEST['clip_id']}-audio"
DECISION = json.dumps({"id": AUDIO_ID, "decision": "accept"}).encode()


@contextmanager
def serving(app, host: str = "127.0.0.1") -> Iterator[PageServer]:
    server = PageServer(app, host)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def release(sample_release: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(sample_release, tmp_path / "release"))


@pytest.fixture()
def review(release: Path, sample_tvqa_root: Path) -> Iterator[PageServer]:
    with serving(ReviewApp(release, sample_tvqa_root)) as server:
        yield server


def origin(server: PageServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def raw(server: PageServer, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` as it is over a fresh socket and read one response (a dropped connection raises)."""
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def request(
    server: PageServer, path: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def post_request(server: PageServer, headers: dict[str, str], body: bytes = DECISION) -> bytes:
    """A raw POST /api/decide with exactly these headers (nothing added)."""
    port = server.server_address[1]
    lines = ["POST /api/decide HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def json_error(body: bytes) -> str:
    payload = json.loads(body)
    assert set(payload) == {"error"} and 0 < len(payload["error"]) <= 200, payload
    return payload["error"]


# --- Origin and Host -------------------------------------------------------------------------------


def test_a_post_from_another_origin_saves_nothing(review: PageServer, release: Path) -> None:
    base = {"Content-Type": "application/json", "Content-Length": str(len(DECISION))}
    for other in ("http://evil.example", "null", f"https://127.0.0.1:{review.server_address[1]}", "http://127.0.0.1"):
        status, _, body = raw(review, post_request(review, {**base, "Origin": other}))
        assert status == 403 and "origin" in json_error(body).lower(), other
    status, _, body = raw(review, post_request(review, base))  # no Origin at all (curl): refused too
    assert status == 403, body
    assert read_decisions(release) == {}
    status, _, body = raw(review, post_request(review, {**base, "Origin": origin(review)}))
    assert status == 200, body
    assert read_decisions(release)[AUDIO_ID].decision == "accept"


def test_a_post_for_another_host_is_refused(review: PageServer, release: Path) -> None:
    data = post_request(
        review,
        {"Content-Type": "application/json", "Content-Length": str(len(DECISION)), "Origin": "http://evil.example"},
    ).replace(f"Host: 127.0.0.1:{review.server_address[1]}".encode(), b"Host: evil.example")
    status, _, body = raw(review, data)
    assert status == 403 and json_error(body)
    assert read_decisions(release) == {}


def test_pages_cannot_be_framed_or_embedded(review: PageServer) -> None:
    _, headers, _ = request(review, "/")
    assert headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in headers["content-security-policy"]
    _, headers, _ = request(review, f"/files/media/{CLIP}", headers={"Range": "bytes=0-9"})
    assert headers["cross-origin-resource-policy"] == "same-origin"


# --- any other host: a warning and a token --------------------------------------------------------


class _Static:
    """The smallest page app: one JSON endpoint, one file."""

    page = "viewer.html"

    def __init__(self, folder: Path) -> None:
        (folder / "plot.png").write_bytes(b"\x89PNG fake")
        (folder / "secret.txt").write_text("not for the page")
        self.files = ServedFiles({"run": folder})
        self.plot_url = self.files.add("run", "plot.png")

    def api_get(self, name: str, query: dict) -> dict:
        if name == "boom":
            raise RuntimeError("a bug in the app")
        if name == "nested":
            raise ApiError("refused", 409)
        return {"ok": True}

    def api_post(self, name: str, body: dict) -> dict:
        return {"got": body}


def test_every_interface_needs_the_token_in_the_url(tmp_path: Path) -> None:
    with serving(_Static(tmp_path), host="0.0.0.0") as server:
        assert server.token and len(server.token) >= 32
        assert f"?token={server.token}" in server.url
        lines = startup_lines(server)
        assert any(line.startswith("warning:") and "0.0.0.0" in line for line in lines)
        assert sum(server.token in line for line in lines) == 1  # shown once, in the URL
        port = server.server_address[1]
        for path in ("/", "/api/state", "/static/common.js", "/files/run/plot.png"):
            status, _, body = request(server, path)
            assert status == 403 and "token" in json_error(body), path
        assert request(server, "/api/state?token=wrong")[0] == 403
        status, headers, _ = request(server, f"/?token={server.token}")
        assert status == 200
        cookie = headers["set-cookie"].split(";")[0]
        assert server.token in cookie and "HttpOnly" in headers["set-cookie"]
        assert "SameSite=Strict" in headers["set-cookie"]
        # the page's own requests carry the cookie the link set
        assert request(server, "/api/state", headers={"Cookie": cookie})[0] == 200
        assert request(server, "/files/run/plot.png", headers={"Cookie": cookie})[0] == 200
        # a name that is not this machine's (DNS rebinding) is refused even with the token
        evil = {"Cookie": cookie, "Host": f"evil.example:{port}"}
        assert request(server, "/api/state", headers=evil)[0] == 403
        # an address literal is what someone on the network types: allowed with the token
        assert request(server, "/api/state", headers={"Cookie": cookie, "Host": f"192.0.2.7:{port}"})[0] == 200
        post = {"Cookie": cookie, "Content-Type": "application/json", "Origin": f"http://127.0.0.1:{port}"}
        assert request(server, "/api/x", "POST", b"{}", post)[0] == 200
        assert request(server, "/api/x", "POST", b"{}", {**post, "Cookie": ""})[0] == 403


def test_loopback_needs_no_token(tmp_path: Path) -> None:
    with serving(_Static(tmp_path)) as server:
        assert server.token is None and "token" not in server.url
        assert not any(line.startswith("warning:") for line in startup_lines(server))
        assert request(server, "/api/state")[0] == 200


def test_an_app_error_is_a_json_500_not_a_dropped_connection(tmp_path: Path) -> None:
    with serving(_Static(tmp_path)) as server:
        status, _, body = request(server, "/api/boom")
        assert status == 500 and json_error(body)
        status, _, body = request(server, "/api/nested")
        assert status == 409 and json_error(body) == "refused"
        assert request(server, "/api/state")[0] == 200  # and the server still answers


# --- malformed requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Content-Length": "100000"}, b"[" * 100_000, 400),
        ({"Content-Length": "abc"}, b"{}", 400),
        ({"Content-Length": "-5"}, b"{}", 400),
        ({"Content-Length": str(10**13)}, b"{}", 413),
        ({"Content-Length": "+2"}, b"{}", 400),
        ({"Content-Length": "2", "Transfer-Encoding": "chunked"}, b"{}", 400),
        ({"Transfer-Encoding": "chunked"}, b"2\r\n{}\r\n0\r\n\r\n", 411),
        ({}, b"", 411),
        ({"Content-Length": "10"}, b'{"a"', 408),  # shorter than announced: answered when the wait ends
        ({"Content-Length": "4"}, b"\xff\xfe\x00\x01", 400),
        ({"Content-Length": "2"}, b"[]", 400),
        ({"Content-Length": "4"}, b"null", 400),
    ],
)
def test_malformed_posts_get_a_json_error(
    tmp_path: Path, headers: dict[str, str], body: bytes, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("evaluation.web.server._Handler.timeout", 1.0)
    with serving(_Static(tmp_path)) as server:
        base = {"Content-Type": "application/json", "Origin": origin(server)}
        status, _, answer = raw(server, post_request(server, {**base, **headers}, body))
        assert status == expected, answer
        json_error(answer)
        assert request(server, "/api/state")[0] == 200


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
        b"DELETE /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + b"y" * 70_000 + b"\r\n\r\n",
        b"GET /api/state HTTP/1.1\r\n\r\n",  # no Host
        b"GET /files/run/%00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /files/run/plot.png HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=99999999999999999999-\r\n\r\n",
    ],
)
def test_malformed_requests_get_an_answer(tmp_path: Path, data: bytes) -> None:
    with serving(_Static(tmp_path)) as server:
        status, _, answer = raw(server, data)
        assert 400 <= status < 500 or status == 505, (status, answer[:200])  # 505: HTTP/9.9
        if answer:  # a 416 has no body
            json_error(answer)


def test_a_body_on_a_get_is_never_read_as_the_next_request(tmp_path: Path) -> None:
    smuggled = b"POST /api/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"
    data = b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % len(smuggled)
    with (
        serving(_Static(tmp_path)) as server,
        socket.create_connection(("127.0.0.1", server.server_address[1])) as sock,
    ):
        sock.settimeout(5)
        sock.sendall(data + smuggled)
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 200 and response.getheader("Connection") == "close"
        response.read()
        assert sock.recv(100) == b""  # closed: the smuggled POST got no answer


def test_a_port_out_of_range_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="0 to 65535"):
        serve(_Static(tmp_path), "127.0.0.1", 70_000, announce=lambda _: None)
    from crossomni_cli import app

    for command in (["view", str(tmp_path)], ["review", str(tmp_path)]):
        result = CliRunner().invoke(app, [*command, "--port", "70000"])
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert "0<=x<=65535" in result.output


# --- only the files the page shows -----------------------------------------------------------------


def test_only_registered_files_are_served(tmp_path: Path) -> None:
    with serving(_Static(tmp_path)) as server:
        assert request(server, "/files/run/plot.png")[0] == 200
        assert request(server, "/files/run/secret.txt")[0] == 404  # under the root, but not on the page


def test_the_review_page_serves_its_clips_only(review: PageServer, sample_tvqa_root: Path) -> None:
    assert request(review, f"/files/media/{CLIP}")[0] == 200
    others = [p for p in sample_tvqa_root.rglob("*") if p.is_file() and p.suffix != ".mp4"]
    assert others  # QA files, subtitles: under the TVQA root, not clips of the release
    for path in others[:5]:
        status, _, _ = request(review, f"/files/media/{path.relative_to(sample_tvqa_root).as_posix()}")
        assert status == 404, path
