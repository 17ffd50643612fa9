"""Local HTTP servers the tests start: a feed host, nothing from the internet."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


# How often serve_forever looks for shutdown(): its default, half a second, was paid again by
# every test that stopped a server.
SHUTDOWN_POLL_SECONDS = 0.02


def serve_in_thread(server) -> threading.Thread:
    """Serve `server` (a socketserver) from a daemon thread; shutdown() stops it at once."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
                              daemon=True)
    thread.start()
    return thread


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class FeedServer:
    """Serves routes set by the test; records every request (path and headers) and the most
    requests it ever served at once. A callable route gets the handler and returns a Route, or
    None when it wrote the response itself (slow or endless bodies)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route | Callable[[BaseHTTPRequestHandler], Route | None]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real feed hosts do
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with server._lock:
                    server.requests.append((self.path, dict(self.headers)))
                    server._in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server._in_flight)
                try:
                    self._respond()
                finally:
                    with server._lock:
                        server._in_flight -= 1

            def _respond(self) -> None:
                route = server.routes.get(self.path, Route(404, b"not found"))
                if callable(route):
                    route = route(self)
                    if route is None:
                        return
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, format: str, *args) -> None:  # noqa: A002
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> "FeedServer":
        serve_in_thread(self.httpd)
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def start_redis_server(port: int, directory, *options: str) -> subprocess.Popen:
    """A redis-server of a test's own on `port` (one the test may stop and restart, never the
    shared one), answering once this returns; `options` override its settings (a later directive
    wins: "--appendonly", "yes"). The caller terminates it."""
    import redis

    from tests.conftest import wait_for

    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(directory), *options],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def answers() -> bool:
        try:
            return redis.Redis(port=port).ping()
        except redis.RedisError:
            return False

    wait_for(answers, timeout=10, what="the private redis-server")
    return process
