"""A small local web server for the review page and the run viewer (stdlib ``http.server``).

It serves one static page with its script and style (no remote assets: the page works offline),
a JSON API answered by a ``PageApp``, and the files the page shows: each app registers them in its
``ServedFiles`` (a clip, a plot), and any other path is a 404, even under a served root. A registered
path that leaves its root (``..``, a symlink out) is a 404 too, and nothing is ever listed. Media
answer HTTP Range requests, which ``<video>`` needs to seek in an mp4.

Who may ask: a loopback-bound server (the default) answers only requests naming a loopback host
(DNS rebinding). Bound to any other address it prints a warning and requires the token of the URL
it prints (kept in a cookie for the page's own requests). A POST must come from the page itself: its
``Origin`` is this server's. A malformed request gets a 4xx status with a short JSON error.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import mimetypes
import re
import secrets
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlsplit

STATIC_DIR = Path(__file__).resolve().parent / "static"
CHUNK = 256 * 1024
MAX_BODY = 1 << 20  # the pages post a decision of a few hundred bytes
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_LENGTH = re.compile(r"^[0-9]{1,16}$")
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # no other page frames this one (clickjacking a decision)
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
}


class ApiError(Exception):
    """A request the server or the app refuses: its message goes back as JSON with ``status``."""

    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


def contained_file(root: Path, relative: str) -> Path | None:
    """``root / relative`` if it is a regular file that (symlinks resolved) stays inside ``root``."""
    if not relative or relative.startswith(("/", "\\")) or "\x00" in relative:
        return None
    base = root.resolve()
    try:
        path = (base / relative).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def file_url(root_name: str, relative: str | Path) -> str:
    """The URL under which the server answers ``relative`` inside root ``root_name``."""
    return f"/files/{quote(root_name)}/{quote(Path(relative).as_posix())}"


class ServedFiles:
    """The files a page may fetch: named roots, and within them only the paths registered with ``add``."""

    def __init__(self, roots: Mapping[str, Path]) -> None:
        self.roots = {name: Path(root) for name, root in roots.items()}
        self._allowed: dict[str, set[str]] = {name: set() for name in self.roots}

    def add(self, root_name: str, relative: str | Path) -> str:
        """Allow ``relative`` under root ``root_name``; its URL (served only while it stays in the root)."""
        key = Path(relative).as_posix()
        self._allowed[root_name].add(key)
        return file_url(root_name, key)

    def add_path(self, path: str | Path) -> str | None:
        """Allow a file given by its path, when it is a file under one of the roots; its URL, else None."""
        target = Path(path)
        for name, root in self.roots.items():
            for base, candidate in ((root, target), (root.resolve(), target.resolve())):
                try:
                    relative = candidate.relative_to(base).as_posix()
                except ValueError:
                    continue
                if contained_file(root, relative) is not None:
                    return self.add(name, relative)
        return None

    def get(self, root_name: str, relative: str) -> Path | None:
        """The file behind a request, if it was registered and still lies inside its root."""
        if relative not in self._allowed.get(root_name, ()):
            return None
        return contained_file(self.roots[root_name], relative)


class PageApp(Protocol):
    """What a page's server side provides."""

    page: str  # an HTML file under ``static/``
    files: ServedFiles  # what ``/files/<root>/<path>`` may answer

    def api_get(self, name: str, query: Mapping[str, str]) -> Any: ...

    def api_post(self, name: str, body: Mapping[str, Any]) -> Any: ...


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


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or a Host header's name) names this machine's loopback interface."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_name(header: str) -> str:
    """The name part of a Host header (``[::1]:8765`` → ``::1``, ``Example:80`` → ``example``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class _Handler(BaseHTTPRequestHandler):
    server: PageServer
    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds a client may stall mid-request (or stop reading) before its connection is dropped

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal shows the URL only
        return

    # --- answering

    def _send_bytes(self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] = {}) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**SECURITY_HEADERS, **self._extra_headers, **headers}.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, payload: Any, status: int = HTTPStatus.OK, headers: Mapping[str, str] = {}) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send_bytes(status, body, "application/json; charset=utf-8", headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (bad request line, header too long, unknown method) as JSON."""
        self.close_connection = True
        self._extra_headers = getattr(self, "_extra_headers", {})
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.0"  # a status line even for a request line we could not read
        headers = {}
        if code == HTTPStatus.NOT_IMPLEMENTED:  # a method no page uses
            code, headers = HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": "GET, HEAD, POST"}
        text = (message or HTTPStatus(code).phrase)[:160]
        self._send_json({"error": text}, code, headers)

    def _guarded(self, handle: Callable[[], None]) -> None:
        """Run one request: a refusal is its status with a JSON error; a bug in the app is a JSON 500."""
        self._extra_headers: dict[str, str] = {}
        self._answered = False
        try:
            self._check_caller()
            handle()
        except ApiError as err:
            self._refuse(str(err), err.status)
        except TimeoutError:
            self._refuse("the request stalled: it sent less than its Content-Length", HTTPStatus.REQUEST_TIMEOUT)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as err:  # a bug: the page gets an answer, the terminal one line
            print(f"error: {self.command} {self.path[:200]}: {type(err).__name__}: {err}", file=sys.stderr)
            self._refuse(f"internal error ({type(err).__name__})", HTTPStatus.INTERNAL_SERVER_ERROR)

    def _refuse(self, message: str, status: int) -> None:
        if self._answered:  # the headers are out: nothing else can be said on this connection
            self.close_connection = True
            return
        self._send_json({"error": message}, status)

    # --- who is asking

    def _check_caller(self) -> None:
        host = self.headers.get("Host")
        if not host:
            raise ApiError("a Host header is required", HTTPStatus.BAD_REQUEST)
        if not self.server.allows_host(host_name(host)):
            raise ApiError(f"unknown host {host[:80]!r}", HTTPStatus.FORBIDDEN)
        token = self.server.token
        if token is None:
            return
        given = dict(parse_qsl(urlsplit(self.path).query)).get("token")
        if given is not None and secrets.compare_digest(given.encode(), token.encode()):
            cookie = f"{self.server.cookie_name}={token}; Path=/; HttpOnly; SameSite=Strict"
            self._extra_headers["Set-Cookie"] = cookie
            return
        try:
            jar = SimpleCookie(self.headers.get("Cookie") or "")
        except CookieError:
            jar = SimpleCookie()
        held = jar.get(self.server.cookie_name)
        if held is None or not secrets.compare_digest(held.value.encode(), token.encode()):
            raise ApiError("this page needs the token of the link the server printed (…/?token=…)", 403)

    # --- methods

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if self.headers.get("Content-Length") or self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # a body we do not read must not be taken for the next request
        self._guarded(self._get)

    def do_POST(self) -> None:
        keep_open = not self.close_connection
        self.close_connection = True  # until the body is read: unread bytes must not become a request
        self._guarded(lambda: self._post(keep_open))

    def _get(self) -> None:
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
            target = app.files.get(root_name, relative)
            if target is not None:
                return self._send_file(target)
        raise ApiError("not found", HTTPStatus.NOT_FOUND)

    def _post(self, keep_open: bool) -> None:
        path = urlsplit(self.path).path
        expected = f"http://{self.headers['Host'].strip()}".lower()
        if (self.headers.get("Origin") or "").strip().lower() != expected:
            raise ApiError("a POST must come from this page (its Origin header is not this server)", 403)
        if not path.startswith("/api/"):
            raise ApiError("not found", HTTPStatus.NOT_FOUND)
        # JSON only: a cross-site page cannot send this content type without a CORS preflight we never grant
        if (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
            raise ApiError("expected application/json", HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
        data = self._read_body()
        self.close_connection = not keep_open
        try:
            body = json.loads(data)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past the parser's depth
            raise ApiError("the body is not JSON", HTTPStatus.BAD_REQUEST) from None
        if not isinstance(body, dict):
            raise ApiError("expected a JSON object", HTTPStatus.BAD_REQUEST)
        self._answer(lambda: self.server.app.api_post(path.removeprefix("/api/"), body))

    def _read_body(self) -> bytes:
        """The body of a POST, exactly its Content-Length bytes (at most ``MAX_BODY``)."""
        lengths = self.headers.get_all("Content-Length") or []
        if self.headers.get("Transfer-Encoding"):
            if lengths:
                raise ApiError("both Transfer-Encoding and Content-Length", HTTPStatus.BAD_REQUEST)
            raise ApiError("send the body with a Content-Length", HTTPStatus.LENGTH_REQUIRED)
        if not lengths:
            raise ApiError("a POST needs a Content-Length", HTTPStatus.LENGTH_REQUIRED)
        if len(set(lengths)) != 1 or not _LENGTH.match(lengths[0].strip()):
            raise ApiError(f"Content-Length must be one whole number, got {lengths[0][:40]!r}", 400)
        length = int(lengths[0])
        if length > MAX_BODY:
            raise ApiError(f"the body is larger than {MAX_BODY:,} bytes", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        data = self.rfile.read(length)
        if len(data) != length:
            raise ApiError("the body is shorter than its Content-Length", HTTPStatus.BAD_REQUEST)
        return data

    def _answer(self, call: Callable[[], Any]) -> None:
        with self.server.lock:  # one writer at a time: decisions are appended in order
            payload = call()
        self._send_json(payload)

    def _send_static(self, name: str) -> None:
        target = contained_file(STATIC_DIR, name)
        if target is None:
            raise ApiError("not found", HTTPStatus.NOT_FOUND)
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        self._send_bytes(HTTPStatus.OK, target.read_bytes(), kind)

    def _send_file(self, target: Path) -> None:
        size = target.stat().st_size
        try:
            span = parse_range(self.headers.get("Range"), size)
        except ValueError:
            self._send_bytes(
                HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, b"", "text/plain", {"Content-Range": f"bytes */{size}"}
            )
            return
        start, end = span if span is not None else (0, size - 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT if span is not None else HTTPStatus.OK)
        self.send_header("Content-Type", mimetypes.guess_type(target.name)[0] or "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(max(end - start + 1, 0)))
        if span is not None:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        for name, value in {**SECURITY_HEADERS, **self._extra_headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self._answered = True
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
            except OSError:  # the player cancelled a range, or stopped reading: normal
                self.close_connection = True


class PageServer(ThreadingHTTPServer):
    """A threaded HTTP server bound to one ``PageApp``; off loopback it requires ``token``."""

    daemon_threads = True

    def __init__(self, app: PageApp, host: str = "127.0.0.1", port: int = 0) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"--port must be 0 to 65535 (0: any free port), got {port!r}")
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)
        self.app = app
        self.lock = threading.Lock()
        self.host = host
        self.local = is_loopback(host) if host else False
        self.token = None if self.local else secrets.token_urlsafe(32)
        self.cookie_name = f"crossomni_token_{self.server_address[1]}"  # cookies ignore ports: one per server
        self._own_names = {host.lower()} if host else set()
        if not self.local:
            self._own_names |= {socket.gethostname().lower(), socket.getfqdn().lower()}

    def allows_host(self, name: str) -> bool:
        """Whether a request naming host ``name`` is for this server.

        Loopback names always are. Bound to loopback, nothing else is (a page elsewhere that renamed
        itself to 127.0.0.1, DNS rebinding, names its own host). Bound to another address: that address,
        this machine's names, and any address literal (which no rebinding can produce); the token
        guards the rest.
        """
        if is_loopback(name):
            return True
        if self.local:
            return False
        return name in self._own_names or _is_address(name)

    @property
    def url(self) -> str:
        """The page's URL (with its token when one is required)."""
        host, port = self.server_address[:2]
        if not self.local and (not self.host or host in ("0.0.0.0", "::")):
            host = socket.gethostname()
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}/" + (f"?token={self.token}" if self.token else "")


def startup_lines(server: PageServer) -> list[str]:
    """What ``serve`` prints: a warning off loopback, then the URL (the token appears only there)."""
    lines = []
    if not server.local:
        address = str(server.server_address[0])
        bound = "every interface" if address in ("0.0.0.0", "::") else server.host
        bound += f" ({address})" if bound != address else ""
        lines.append(
            f"warning: serving on {bound}, not only this machine: anyone who can reach it and has the link "
            "below can use the page; keep the link private"
        )
    lines.append(f"open {server.url}  (Ctrl-C stops the server)")
    return lines


def serve(
    app: PageApp,
    host: str = "127.0.0.1",
    port: int = 0,
    announce: Callable[[str], Any] = print,
    warn: Callable[[str], Any] = lambda line: print(line, file=sys.stderr),
) -> None:
    """Serve ``app`` until Ctrl-C, announcing the URL first; a bad port or address is a one-line ``ValueError``."""
    try:
        server = PageServer(app, host, port)
    except OSError as err:
        reason = err.strerror or str(err)
        hint = "pass --port 0 for any free port" if err.errno == errno.EADDRINUSE else "check --host"
        raise ValueError(f"cannot listen on {host}:{port} ({reason}); {hint}") from None
    for line in startup_lines(server):
        (warn if line.startswith("warning:") else announce)(line)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
