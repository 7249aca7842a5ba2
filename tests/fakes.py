"""A programmable fake HTTP provider on 127.0.0.1, shared by the channel plugins' tests.

Each test gets a server on a free port in a daemon thread. Routes map ``(method, path
regex)`` to a handler ``handler(request) -> (status, headers, body)``; every request is
logged in ``server.requests`` (method, path, headers, parsed form/JSON body, raw body).
Answers carry ``Connection: close`` so that "server down" tests do not ride on a kept-alive
connection after ``stop()``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes
    form: dict[str, str] = field(default_factory=dict)
    json: Any = None


Response = tuple[int, dict[str, str], Any]
Handler = Callable[[Request], Response]


class FakeServer:
    """``with FakeServer() as server: server.route("POST", r"/bot.*/sendMessage", handler)``."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), raw)
                ctype = self.headers.get("Content-Type", "")
                if "application/x-www-form-urlencoded" in ctype:
                    req.form = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
                elif "json" in ctype and raw:
                    try:
                        req.json = json.loads(raw)
                    except ValueError:
                        req.json = None
                with outer.lock:
                    outer.requests.append(req)
                status, headers, body = outer.answer(req)
                if isinstance(body, (dict, list)):
                    body = json.dumps(body).encode()
                    headers = {"Content-Type": "application/json", **headers}
                elif isinstance(body, str):
                    body = body.encode()
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Add a route; later routes win over earlier ones for the same request."""
        self.routes.insert(0, (method, re.compile(pattern), handler))

    def answer(self, req: Request) -> Response:
        for method, pattern, handler in self.routes:
            if method == req.method and pattern.fullmatch(req.path):
                return handler(req)
        return 404, {}, {"error": f"no fake route for {req.method} {req.path}"}

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for servers that cannot bind port 0)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
