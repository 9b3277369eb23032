"""A PostgreSQL restart under traffic costs only the requests in flight; the portal reconnects by itself.

A real gunicorn (production settings: persistent connections with health checks) serves a portal
from a throwaway PostgreSQL cluster of this test's own (``tests.pgcluster``; never the shared
server) while four threads keep asking for pages and the cluster is restarted (``pg_ctl restart
-m fast``). No answer may be a 500; a request whose query was cut off may get the "temporarily
unavailable" 503 page, at most one per thread in flight; every request after the restart succeeds
on the same gunicorn process.
"""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.pgcluster import ThrowawayCluster
from tests.servers import free_port, wait_until_answers

REPO = Path(__file__).resolve().parents[2]
THREADS = 4
START_TIMEOUT = 30.0


def _manage(env: dict, *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True, capture_output=True, timeout=180
    )


@pytest.fixture
def cluster():
    pg = ThrowawayCluster()
    try:
        pg.start()
    except (OSError, subprocess.SubprocessError) as exc:
        pg.stop()
        pytest.skip(f"cannot start a throwaway PostgreSQL cluster: {exc}")
    yield pg
    pg.stop()


@pytest.fixture
def server(cluster, tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "CONN_MAX_AGE")},
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": cluster.url(),
        "DEBUG": "false",
        "SECRET_KEY": "restart-test-" + "x" * 50,
        "SECURE_SSL_REDIRECT": "false",
        "ALLOW_INSECURE_DEFAULTS": "true",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "GUNICORN_WORKERS": "1",
        "STATIC_ROOT": str(
            tmp_path / "static"
        ),  # not the checkout's staticfiles/ a test server may be reading
    }
    env.pop("CACHE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    _manage(env, "migrate", "--noinput")
    _manage(env, "collectstatic", "--noinput")
    _manage(env, "portal", "create", "--url", "http://acme.localhost", "--name", "Acme")
    port = free_port()
    env["GUNICORN_BIND"] = f"127.0.0.1:{port}"
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi:application", "--threads", str(THREADS)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(
            f"{base}/healthz", timeout=START_TIMEOUT, what="gunicorn", process=process,
            log_path=tmp_path / "gunicorn.log",
        )  # fmt: skip
    except RuntimeError as exc:
        process.kill()
        process.wait(timeout=5)
        pytest.fail(str(exc))
    yield base, process
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    log.close()


def test_postgresql_restart_under_traffic_costs_only_requests_in_flight(cluster, server):
    base, process = server
    results: list[tuple[float, int]] = []  # (finished at, status; 0 = no answer)
    stop = threading.Event()

    def traffic():
        with requests.Session() as http:
            while not stop.is_set():
                try:
                    status = http.get(
                        f"{base}/login/", headers={"Host": "acme.localhost"}, timeout=15
                    ).status_code
                except requests.RequestException:
                    status = 0
                results.append((time.monotonic(), status))

    threads = [threading.Thread(target=traffic, daemon=True) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    cluster.restart()
    restarted_at = time.monotonic()
    time.sleep(2.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=20)

    statuses = [status for _, status in results]
    assert statuses.count(200) > 20, "no traffic got through"
    assert 500 not in statuses and 0 not in statuses, f"answers: {sorted(set(statuses))}"
    assert statuses.count(503) <= THREADS, f"{statuses.count(503)} requests failed, more than were in flight"
    assert set(statuses) <= {200, 503}
    after = [status for finished, status in results if finished > restarted_at + 0.5]
    assert after and set(after) == {200}, "requests after the restart did not all succeed"
    assert process.poll() is None  # the same gunicorn, never restarted
