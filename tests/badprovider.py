"""A hostile provider on loopback: drips bytes, hangs, or sends an endless body.

Used by the slow-provider tests (in-process and against a real gunicorn). Every behaviour is
bounded: a drip stops after ``max_seconds`` even if the client never hangs up, so no test can
leave a thread running for long. ``bytes_sent`` counts what each path managed to write before the
client went away, which is how the tests see that the portal stopped reading at its cap.

Paths: ``/drip-body/...`` (headers at once, then one byte every ``interval`` s), ``/drip-headers/...``
(the status line and headers themselves dripped), ``/huge/...`` (``huge_bytes`` of body, no
Content-Length), ``/hang/...`` (accept, never answer); anything ending in
``/.well-known/openid-configuration`` under those prefixes behaves the same, so an issuer URL
like ``http://127.0.0.1:port/drip-body`` makes discovery itself drip.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class BadProvider:
    def __init__(
        self, *, interval: float = 0.5, max_seconds: float = 30.0, huge_bytes: int = 60 * 1024 * 1024
    ):
        self.interval = interval
        self.max_seconds = max_seconds
        self.huge_bytes = huge_bytes
        self.bytes_sent: Counter[str] = Counter()
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler(self))
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self, kind: str, sent: int = 0) -> None:
        with self._lock:
            self.bytes_sent[kind] += sent

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        """Clients hanging up on us is the point of these tests."""


def _handler(provider: BadProvider):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):
            pass

        def _write(self, kind: str, data: bytes) -> bool:
            try:
                self.wfile.write(data)
                self.wfile.flush()
            except OSError:
                return False
            provider.count(kind, len(data))
            return True

        def _drip(self, kind: str, data: bytes) -> None:
            """Write ``data`` (or, once it is used up, spaces) a byte at a time until the time is up."""
            ends = time.monotonic() + provider.max_seconds
            index = 0
            while time.monotonic() < ends and not provider._stop.is_set():
                byte = data[index : index + 1] or b" "
                index += 1
                if not self._write(kind, byte):
                    return
                provider._stop.wait(provider.interval)

        def do_GET(self):
            kind = self.path.strip("/").split("/", 1)[0]
            with provider._lock:
                provider.hits[kind] += 1
            if kind == "drip-body":
                self._write(
                    kind,
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
                )
                self._drip(kind, b'{"issuer": "')
            elif kind == "drip-headers":
                self._drip(kind, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: ")
            elif kind == "huge":
                self._write(
                    kind, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                )
                chunk = b"[" + b"0," * 32767 + b"0"
                left = provider.huge_bytes
                while left > 0 and not provider._stop.is_set():
                    if not self._write(kind, chunk[:left]):
                        return
                    left -= len(chunk)
            elif kind == "hang":
                provider._stop.wait(provider.max_seconds)
            else:
                self._write(kind, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            self.close_connection = True

        do_POST = do_GET  # a token endpoint that drips: the request body is simply never read

    return Handler
