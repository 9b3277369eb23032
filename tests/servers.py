"""Start a server subprocess and wait until it answers: the one bounded wait the suite's stand-ins
(HaloPSA, localstripe), its real-gunicorn tests, the loadtest and the bench share.

A server that exits while we wait, or does not answer within ``timeout``, is an error naming it
with the tail of its log; the caller stops what it started (it knows how).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import requests

POLL_SECONDS = 0.2


class ServerDidNotStart(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path | None, lines: int = 40) -> str:
    if path is None:
        return ""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    process: subprocess.Popen | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll ``ready()`` (a network error counts as not ready) until it is true, for at most ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise ServerDidNotStart(f"{what} exited with {process.returncode}:\n{log_tail(log_path)}")
        try:
            if ready():
                return
        except (requests.RequestException, OSError):
            pass
        if time.monotonic() >= deadline:
            raise ServerDidNotStart(f"{what} did not answer within {timeout:.0f} s:\n{log_tail(log_path)}")
        time.sleep(POLL_SECONDS)


def wait_until_answers(
    url: str,
    *,
    timeout: float,
    what: str,
    process: subprocess.Popen | None = None,
    log_path: Path | None = None,
    headers: dict | None = None,
    ok: Callable[[requests.Response], bool] = lambda response: response.status_code == 200,
    request_timeout: float = 2.0,
) -> None:
    """Wait until a GET of ``url`` gets an answer ``ok`` accepts (default: a 200)."""

    def ready() -> bool:
        response = requests.get(url, headers=headers or {}, timeout=request_timeout, allow_redirects=False)
        return ok(response)

    wait_until(ready, timeout=timeout, what=what, process=process, log_path=log_path)


def start_logged(args: list[str], *, log_path: Path, cwd: Path, env: dict | None = None) -> subprocess.Popen:
    """Start ``args`` with stdout and stderr going to ``log_path`` and stdin closed."""
    with Path(log_path).open("wb") as log:
        return subprocess.Popen(
            args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def stop_process(process: subprocess.Popen, *, grace: float = 5.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL (and wait again, as long)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace)


def wait_until_server_answers(server, url: str, *, timeout: float, what: str) -> None:
    """``wait_until_answers`` for a started stand-in (its ``process``, ``log_path`` and ``stop()``):
    one that never answers is stopped before the error goes up, so no test leaves it running."""
    try:
        wait_until_answers(url, timeout=timeout, what=what, process=server.process, log_path=server.log_path)
    except RuntimeError:
        server.stop()
        raise
