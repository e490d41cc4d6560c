"""A small local web server for the review page and the run viewer (stdlib ``http.server``).

It serves one static page with its script and style (no remote assets: the page works offline),
a JSON API answered by a ``PageApp``, and files under the app's named roots only: a path that
leaves its root (``..``, a symlink out, an absolute path) or names a folder is a 404, and nothing
is ever listed. Media answer HTTP Range requests, which ``<video>`` needs to seek in an mp4.
"""

from __future__ import annotations

import json
import mimetypes
import re
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlsplit

STATIC_DIR = Path(__file__).resolve().parent / "static"
CHUNK = 256 * 1024
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class ApiError(Exception):
    """A request the app refuses: its message goes back to the page with ``status``."""

    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


class PageApp(Protocol):
    """What a page's server side provides."""

    page: str  # an HTML file under ``static/``
    roots: Mapping[str, Path]  # name -> folder whose files ``/files/<name>/<path>`` may serve

    def api_get(self, name: str, query: Mapping[str, str]) -> Any: ...

    def api_post(self, name: str, body: Mapping[str, Any]) -> Any: ...


def file_url(root_name: str, relative: str | Path) -> str:
    """The URL under which the server answers ``relative`` inside root ``root_name``."""
    return f"/files/{quote(root_name)}/{quote(Path(relative).as_posix())}"


def contained_file(root: Path, relative: str) -> Path | None:
    """``root / relative`` if it is a regular file that (symlinks resolved) stays inside ``root``."""
    if not relative or relative.startswith(("/", "\\")) or "\x00" in relative:
        return None
    base = root.resolve()
    try:
        path = (base / relative).resolve()
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte span a ``Range`` header asks for; None for the whole file.

    Raises ``ValueError`` when the range cannot be satisfied (answered with 416).
    Multi-range requests are answered with the whole file, which RFC 9110 allows.
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise ValueError(header)
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise ValueError(header)
    return start, end


class _Handler(BaseHTTPRequestHandler):
    server: PageServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal shows the URL only
        return

    def _allowed_host(self) -> bool:
        """Refuse requests for other host names (DNS rebinding) on a loopback-bound server."""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        bound = self.server.server_address[0]
        return host in LOCAL_HOSTS or host == bound or bound not in ("127.0.0.1", "::1")

    def _send_bytes(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, payload: Any, status: int = HTTPStatus.OK) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send_bytes(status, body, "application/json; charset=utf-8")

    def _not_found(self) -> None:
        self._send_json({"error": "not found"}, HTTPStatus.NOT_FOUND)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._allowed_host():
            return self._send_json({"error": "unknown host"}, HTTPStatus.FORBIDDEN)
        url = urlsplit(self.path)
        path = unquote(url.path)
        app = self.server.app
        if path in ("/", "/index.html"):
            return self._send_static(app.page)
        if path.startswith("/static/"):
            return self._send_static(path.removeprefix("/static/"))
        if path.startswith("/api/"):
            query = dict(parse_qsl(url.query, keep_blank_values=True))
            return self._answer(lambda: app.api_get(path.removeprefix("/api/"), query))
        if path.startswith("/files/"):
            root_name, _, relative = path.removeprefix("/files/").partition("/")
            root = app.roots.get(root_name)
            target = contained_file(root, relative) if root is not None else None
            return self._send_file(target) if target is not None else self._not_found()
        return self._not_found()

    def do_POST(self) -> None:
        if not self._allowed_host():
            return self._send_json({"error": "unknown host"}, HTTPStatus.FORBIDDEN)
        path = urlsplit(self.path).path
        if not path.startswith("/api/"):
            return self._not_found()
        # JSON only: a cross-site page cannot send this content type without a CORS preflight we never grant
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return self._send_json({"error": "expected application/json"}, HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._send_json({"error": "the body is not JSON"}, HTTPStatus.BAD_REQUEST)
        if not isinstance(body, dict):
            return self._send_json({"error": "expected a JSON object"}, HTTPStatus.BAD_REQUEST)
        self._answer(lambda: self.server.app.api_post(path.removeprefix("/api/"), body))

    def _answer(self, call: Any) -> None:
        try:
            with self.server.lock:  # one writer at a time: decisions are appended in order
                payload = call()
        except ApiError as err:
            return self._send_json({"error": str(err)}, err.status)
        self._send_json(payload)

    def _send_static(self, name: str) -> None:
        target = contained_file(STATIC_DIR, name)
        if target is None:
            return self._not_found()
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        self._send_bytes(HTTPStatus.OK, target.read_bytes(), kind)

    def _send_file(self, target: Path) -> None:
        size = target.stat().st_size
        try:
            span = parse_range(self.headers.get("Range"), size)
        except ValueError:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start, end = span if span is not None else (0, size - 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT if span is not None else HTTPStatus.OK)
        self.send_header("Content-Type", mimetypes.guess_type(target.name)[0] or "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(max(end - start + 1, 0)))
        if span is not None:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(target, "rb") as handle:
            handle.seek(start)
            remaining = end - start + 1
            try:
                while remaining > 0:
                    chunk = handle.read(min(CHUNK, remaining))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    remaining -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):  # the player cancelled a range: normal
                return


class PageServer(ThreadingHTTPServer):
    """A threaded HTTP server bound to one ``PageApp``."""

    daemon_threads = True

    def __init__(self, app: PageApp, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        self.app = app
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'[' + host + ']' if ':' in str(host) else host}:{port}/"


def serve(app: PageApp, host: str = "127.0.0.1", port: int = 0, announce: Any = print) -> None:
    """Serve ``app`` until Ctrl-C, announcing the URL first; a port in use is a one-line ``ValueError``."""
    try:
        server = PageServer(app, host, port)
    except OSError as err:
        raise ValueError(f"cannot listen on {host}:{port} ({err.strerror}); pass --port 0 for any free port") from None
    announce(f"open {server.url}  (Ctrl-C stops the server)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
