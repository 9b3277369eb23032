"""The benchmark's OpenID provider: the tests' TinyOP in its own process, plus a control port.

Runs apart from the load generator so its work (RS256 signing, HTTP parsing) is not counted as the
relying party's. The control port sets the delay per request (``/delay?ms=50``) and reads or resets
the per-path call counts (``/calls``, ``/reset``), so one provider serves every stage of a run.
Prints one JSON line (issuer, control URL) on stdout once it listens.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.oidc_op import TinyOP


def control_server(op: TinyOP) -> ThreadingHTTPServer:
    class Control(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            parts = urlsplit(self.path)
            if parts.path == "/delay":
                op.knobs.delay = float(parse_qs(parts.query).get("ms", ["0"])[0]) / 1000
                body = {"delay_ms": op.knobs.delay * 1000}
            elif parts.path == "/reset":
                op.reset_calls()
                body = {}
            elif parts.path == "/calls":
                counts: dict[str, int] = {}
                for call in op.calls():
                    name = call["path"].rsplit("/", 1)[-1] or call["path"]
                    counts[name] = counts.get(name, 0) + 1
                body = counts
            else:
                self.send_response(404)
                self.end_headers()
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    server.daemon_threads = True
    return server


def main() -> None:
    op = TinyOP()
    # Codes and access tokens are never used twice in the benchmark; keep memory bounded.
    op.codes = _Bounded(op.codes)
    op.access_tokens = _Bounded(op.access_tokens)
    control = control_server(op)
    threading.Thread(target=control.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    print(json.dumps({"issuer": op.issuer, "control": f"http://127.0.0.1:{control.server_address[1]}"}))
    sys.stdout.flush()
    try:
        sys.stdin.read()  # runs until the parent closes our stdin (or dies)
    finally:
        control.shutdown()
        op.stop()


class _Bounded(dict):
    """A dict that forgets its oldest entries past 10,000 (a long run must not grow without end)."""

    def __setitem__(self, key, value):
        if len(self) >= 10_000:
            for old in list(self)[:1000]:
                del self[old]
        super().__setitem__(key, value)


if __name__ == "__main__":
    main()
