"""A real Celery worker (in a thread) on a real broker, for tests marked ``broker``.

Uses ``celery.contrib.testing.worker.start_worker`` with the project's app (``portal.celery``),
with three test-suite additions:

- every wait is bounded (the stock ``ensure_started`` waits forever if the worker dies on start);
- each test gets its own queue name, so parallel test runs sharing the Redis database (other
  developers, CI jobs) never consume each other's tasks;
- the publisher can be pointed at another broker URL (a dead port) to simulate an outage.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import redis
from celery.contrib.testing.worker import TestWorkController, start_worker
from celery.signals import task_postrun

from portal.celery import app

WORKER_START_TIMEOUT = 30.0
WORKER_STOP_TIMEOUT = 15.0


def broker_url_from_env() -> str:
    return os.environ.get("TEST_BROKER_URL", "")


class BoundedTestWorkController(TestWorkController):
    __test__ = False

    def ensure_started(self):
        if not self._on_started.wait(timeout=WORKER_START_TIMEOUT):
            raise RuntimeError(f"Celery test worker did not start within {WORKER_START_TIMEOUT} s")


def reset_publisher(celery_app=app) -> None:
    """Forget the app's pool and cached routing, so new settings take effect.

    The pools themselves are kombu's, shared per broker URL (``kombu.pools``): closing one here
    would break the next user of that URL, so they are only dropped, never closed.
    """
    celery_app._pool = None
    celery_app.__dict__.pop("amqp", None)


@contextlib.contextmanager
def configured(**conf) -> Iterator[None]:
    """Temporarily change the app's configuration (restored afterwards, pools reset both ways)."""
    saved = {key: app.conf.get(key) for key in conf}
    app.conf.update(conf)
    reset_publisher()
    try:
        yield
    finally:
        app.conf.update(saved)
        reset_publisher()


@contextlib.contextmanager
def on_real_broker(broker_url: str) -> Iterator[str]:
    """Publish to ``broker_url`` for real (not eagerly) on a queue of this test's own; yields the queue."""
    queue = f"test-accounts-{uuid.uuid4().hex[:12]}"
    with configured(
        broker_url=broker_url,
        task_always_eager=False,
        task_default_queue=queue,
        worker_hijack_root_logger=False,
    ):
        try:
            yield queue
        finally:
            purge_queue(broker_url, queue)


@contextlib.contextmanager
def publisher_at(broker_url: str) -> Iterator[None]:
    """Point only the publisher at ``broker_url`` (e.g. a dead port), keeping everything else."""
    with configured(broker_url=broker_url):
        yield


def purge_queue(broker_url: str, queue: str) -> None:
    """Delete every Redis key of this test's queue: the queue lists and kombu's binding tables
    (all contain the queue's unique name; Celery names the default exchange after the queue)."""
    client = redis.Redis.from_url(broker_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"*{queue}*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass
    finally:
        client.close()


@contextlib.contextmanager
def celery_worker() -> Iterator[object]:
    """A solo-pool worker thread consuming the app's current default queue."""
    with start_worker(
        app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        shutdown_timeout=WORKER_STOP_TIMEOUT,
        loglevel="WARNING",
        WorkController=BoundedTestWorkController,
    ) as worker:
        yield worker


@contextlib.contextmanager
def count_finished_tasks() -> Iterator[Callable[[], int]]:
    """Counts tasks the worker has finished (any outcome) while the block runs."""
    lock = threading.Lock()
    finished = [0]

    def _on_postrun(**kwargs):
        with lock:
            finished[0] += 1

    task_postrun.connect(_on_postrun, weak=False)
    try:
        yield lambda: finished[0]
    finally:
        task_postrun.disconnect(_on_postrun)


def wait_for(predicate: Callable[[], bool], *, timeout: float = 20.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds have passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
