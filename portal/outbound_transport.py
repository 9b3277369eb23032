"""The transport under ``portal.outbound``: a requests adapter that checks, pins, caps and times out.

Per request it (1) checks the URL and resolves its host once (``outbound_policy.check_url``),
(2) connects to the checked address while the Host header, TLS SNI and certificate check keep
using the host name (no second DNS lookup, so no rebinding between check and connect), (3) arms
a watchdog that shuts the socket down when the call's TOTAL deadline passes, because socket
timeouts are per read and a provider dripping one byte a second never trips them, and (4) reads
the body itself, stopping at the byte cap instead of loading everything and measuring afterwards.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import os
import socket
import threading
import time
from dataclasses import dataclass

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError, ReadTimeoutError
from urllib3.util import connection as urllib3_connection

from .outbound_policy import OutboundError, Target, check_url

CHUNK = 16 * 1024
PROCESS_SLOT_WAIT = 0.5  # seconds a call may wait for a free process slot

_process_slots: threading.BoundedSemaphore | None = None
_process_waiters: threading.BoundedSemaphore | None = None
_process_slots_lock = threading.Lock()


def process_slots() -> threading.BoundedSemaphore:
    """How many outbound calls this process makes at once (OUTBOUND_MAX_CONCURRENT_PER_PROCESS).

    gunicorn.conf.py gives each worker twice as many threads, so however many providers hang,
    half of every worker's threads are never in an outbound call, and with the short queue of
    ``process_slot`` at least a quarter stay free for pages that need no provider (other portals,
    /healthz).
    """
    global _process_slots, _process_waiters
    with _process_slots_lock:
        if _process_slots is None:
            limit = settings.OUTBOUND_MAX_CONCURRENT_PER_PROCESS
            _process_slots = threading.BoundedSemaphore(limit)
            _process_waiters = threading.BoundedSemaphore(max(1, limit // 2))
        return _process_slots


_holding_process_slot: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "outbound_holding_process_slot", default=False
)


@contextlib.contextmanager
def process_slot(wait: float):
    """Hold one of this process's outbound slots for the block (a no-op when already held).

    ``portal.outbound.request`` takes it before waiting for a provider's shared slot, so the
    threads that wait there are counted here too. When every slot is taken, at most half as many
    threads again may wait (up to ``wait`` seconds) for one; any further call is refused as
    ``busy`` at once. So outbound calls and their queue never hold more than three quarters of
    a worker's threads (gunicorn.conf.py gives it twice the slots), however providers behave.
    """
    if _holding_process_slot.get():
        yield
        return
    slots = process_slots()
    if not slots.acquire(blocking=False):
        if not _process_waiters.acquire(blocking=False):
            raise OutboundError(
                "busy",
                "This server is already waiting on as many outbound calls as it allows; try again shortly.",
            )
        try:
            got = slots.acquire(timeout=max(0.0, wait))
        finally:
            _process_waiters.release()
        if not got:
            raise OutboundError(
                "busy",
                "This server is already waiting on as many outbound calls as it allows; try again shortly.",
            )
    token = _holding_process_slot.set(True)
    try:
        yield
    finally:
        _holding_process_slot.reset(token)
        slots.release()


class Guard:
    """One call's total deadline: shuts down every socket of the call when time is up.

    The deadline is kept by the process's one watchdog thread (``_Watchdog``), not a timer thread
    per call: starting a thread for every token call cost more CPU than the rest of the guard.
    """

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + max(seconds, 0.0)
        self.expired = False
        self.cancelled = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        _watchdog.watch(self)

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.0)

    def register(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shutdown(sock)

    def expire(self) -> None:
        with self._lock:
            if self.cancelled:
                return
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            self._sockets.clear()


class _Watchdog:
    """One daemon thread per process that expires guards at their deadlines (a heap of them).

    Started on first use in each process (and again in a forked child, whose copy of the thread
    does not run). A cancelled guard stays queued until its deadline or until the queue is
    compacted; expiring it then does nothing.
    """

    COMPACT_AT = 2048

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Guard]] = []
        self._order = itertools.count()
        self._pid = 0
        self._thread: threading.Thread | None = None

    def watch(self, guard: Guard) -> None:
        with self._cond:
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                self._pid, self._heap = os.getpid(), []
                self._thread = threading.Thread(target=self._run, name="outbound-watchdog", daemon=True)
                self._thread.start()
            if len(self._heap) >= self.COMPACT_AT:
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (guard.deadline, next(self._order), guard))
            if self._heap[0][2] is guard:
                self._cond.notify()  # it is the next one due: wake the thread to wait less

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    due = self._heap[0][0] - time.monotonic()
                    if due <= 0:
                        guard = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(due)
            guard.expire()


_watchdog = _Watchdog()


def _shutdown(sock: socket.socket) -> None:
    # socket.socket.shutdown, not SSLSocket.shutdown: the TLS wrapper's version unwraps and would
    # race the reading thread; the plain one makes its pending recv return at once. A socket that
    # is already closed has fileno -1, so a reused descriptor is never touched.
    try:
        if sock.fileno() != -1:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _PinnedMixin:
    """A urllib3 connection that dials the checked address; ``host`` stays the host name."""

    def __init__(self, *args, pinned_address: str, guard: Guard, **kwargs):
        super().__init__(*args, **kwargs)
        self._pinned_address = pinned_address
        self._guard = guard

    def _new_conn(self) -> socket.socket:
        try:
            sock = urllib3_connection.create_connection(
                (self._pinned_address, self.port),
                self.timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except socket.gaierror as exc:  # cannot happen for a literal address, kept for symmetry
            raise NameResolutionError(self.host, self, exc) from exc
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        self._guard.register(sock)
        return sock

    def connect(self) -> None:
        super().connect()
        self._guard.register(self.sock)  # the TLS socket, once wrapped


class PinnedHTTPConnection(_PinnedMixin, HTTPConnection):
    pass


class PinnedHTTPSConnection(_PinnedMixin, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = PinnedHTTPSConnection


@dataclass
class _Current:
    target: Target
    guard: Guard
    pool: HTTPConnectionPool | None = None


_current: contextvars.ContextVar[_Current | None] = contextvars.ContextVar("outbound_current", default=None)
# Seconds left for everything the current request (e.g. one login callback) may still spend on
# outbound calls; None when no budget is set. See ``portal.outbound.budget``.
budget_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "outbound_budget", default=None
)


class GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter that applies the outbound policy, the deadline and the byte cap."""

    def __init__(
        self, *, deadline: float, max_bytes: int, connect_timeout: float, read_timeout: float, what: str
    ):
        super().__init__(max_retries=0)
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.what = what
        self.last_bytes_read = 0

    def _seconds(self) -> float:
        seconds = self.deadline
        budget = budget_deadline.get()
        if budget is not None:
            seconds = min(seconds, budget - time.monotonic())
        if seconds <= 0:
            raise OutboundError("timeout", "No time was left for this call within the request's deadline.")
        return seconds

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        current = _current.get()
        _host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        target = current.target
        conn_kw = {"pinned_address": target.addresses[0], "guard": current.guard}
        if target.scheme == "https":
            pool = _PinnedHTTPSPool(
                host=target.hostname, port=target.port, maxsize=1, **pool_kwargs, **conn_kw
            )
        else:
            pool = _PinnedHTTPPool(host=target.hostname, port=target.port, maxsize=1, **conn_kw)
        current.pool = pool
        return pool

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        with process_slot(min(self._seconds(), PROCESS_SLOT_WAIT)):
            return self._send(request, verify=verify, cert=cert)

    def _send(self, request, *, verify, cert):
        seconds = self._seconds()
        started = time.monotonic()
        target = check_url(request.url, what=self.what, timeout=seconds)
        seconds -= time.monotonic() - started
        if seconds <= 0:
            raise OutboundError("timeout", f"{self.what}: the host name lookup used up the time allowed.")
        guard = Guard(seconds)
        current = _Current(target=target, guard=guard)
        token = _current.set(current)
        timeout = (min(self.connect_timeout, seconds), min(self.read_timeout, seconds))
        try:
            try:
                response = super().send(
                    request, stream=True, timeout=timeout, verify=verify, cert=cert, proxies=None
                )
            except requests.RequestException as exc:
                if guard.expired:
                    raise _deadline_error(self.what, request.url, seconds) from exc
                raise
            try:
                self._read_body(response, guard=guard, seconds=seconds)
            finally:
                response.raw.close()
        finally:
            _current.reset(token)
            guard.cancel()
            if current.pool is not None:
                current.pool.close()
        return response

    def _read_body(self, response: requests.Response, *, guard: Guard, seconds: float) -> None:
        url, cap = response.url, self.max_bytes
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > cap:
            self.last_bytes_read = 0
            raise OutboundError("response_too_large", f"{url} announced a body of more than {cap} bytes.")
        chunks, total = [], 0
        try:
            for chunk in response.raw.stream(CHUNK, decode_content=True):
                total += len(chunk)
                if total > cap:
                    raise OutboundError("response_too_large", f"{url} answered with more than {cap} bytes.")
                chunks.append(chunk)
        except OutboundError:
            raise
        except Exception as exc:
            if guard.expired:
                raise _deadline_error(self.what, url, seconds) from exc
            if isinstance(exc, ReadTimeoutError):
                raise requests.exceptions.ReadTimeout(exc, request=response.request) from exc
            raise requests.exceptions.ConnectionError(exc, request=response.request) from exc
        finally:
            self.last_bytes_read = response.raw.tell()
        if guard.expired:
            raise _deadline_error(self.what, url, seconds)
        response._content = b"".join(chunks)
        response._content_consumed = True


def _deadline_error(what: str, url: str, seconds: float) -> OutboundError:
    return OutboundError(
        "timeout", f"{url} did not answer completely within {seconds:.1f} s (the total time allowed)."
    )


class GuardedSession(requests.Session):
    """A requests session that never follows redirects and ignores proxy/netrc environment
    (a proxy would connect to a host we did not check)."""

    def __init__(self, adapter: GuardedAdapter):
        super().__init__()
        self.trust_env = False
        self.max_redirects = 0
        self.adapters.clear()
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.headers["Accept-Encoding"] = "identity"

    def get_redirect_target(self, resp):
        return None  # redirects are answers, never followed
