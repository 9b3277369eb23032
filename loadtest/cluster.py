"""The loadtest's servers, all on loopback with free ports: PostgreSQL (a throwaway cluster), two
Redis instances (cache, broker), the HaloPSA stand-in, two gunicorn replicas, a Celery worker and beat."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.pgcluster import ThrowawayCluster
from tests.servers import free_port as _free_port
from tests.servers import wait_until, wait_until_answers
from tests.standin import start_standin

REPO = Path(__file__).resolve().parent.parent
# The portal's processes (gunicorn, worker, beat) run at a lower CPU priority than the HaloPSA
# stand-in: in production HaloPSA has machines of its own, here it shares two cores with the system
# under test, and a starved stand-in answering a token request in 10 s measures nothing of ours.
PORTAL_NICE = ["nice", "-n", "5"]
START_TIMEOUT = 40.0


class Redis:
    def __init__(self, root: Path, name: str) -> None:
        self.port = _free_port()
        self.root, self.name = root, name
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.root, stdout=(self.root / f"{self.name}.log").open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip

        def pong():
            import redis

            try:
                return redis.Redis(port=self.port, socket_timeout=0.5).ping()
            except redis.exceptions.ConnectionError:
                return False

        wait_until(pong, timeout=10, what=f"redis {self.name}", process=self.process)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


class Stack:
    """Everything the loadtest runs against; ``stop()`` ends every process it started."""

    def __init__(
        self, root: Path, *, people: int, workers: int, threads: int | None, outbound_concurrency: int | None
    ) -> None:
        self.root = root
        self.outbound_concurrency = outbound_concurrency
        self.people, self.workers, self.threads = people, workers, threads
        self.maildir = root / "mail"
        self.maildir.mkdir(parents=True)
        self.pg = ThrowawayCluster()
        self.cache = Redis(root, "cache")
        self.broker = Redis(root, "broker")
        self.replicas: list[tuple[int, subprocess.Popen]] = []
        self.worker: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None
        self.standin = None
        self.port = _free_port()  # the port in the portals' URLs (replica 0)

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "CACHE_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="loadtest.settings",
            DATABASE_URL=self.pg.url(),
            DEBUG="false",
            SECRET_KEY="loadtest-only-" + "k" * 50,
            FIELD_ENCRYPTION_KEY="bG9hZHRlc3Qtb25seS1maWVsZC1rZXktMDEyMzQ1Njc=",
            SECURE_SSL_REDIRECT="false",
            SSO_ALLOW_INSECURE_HTTP="true",
            SSO_PROVIDER_ALLOWED_NETWORKS="127.0.0.1/32",
            EMAIL_URL=f"filemail://{self.maildir}",
            CELERY_BROKER_URL=f"redis://127.0.0.1:{self.broker.port}/0",
            CACHE_URL=f"redis://127.0.0.1:{self.cache.port}/1",
            PYTHONUNBUFFERED="1",
            STATIC_ROOT=str(self.root / "static"),
        )
        if self.outbound_concurrency is not None:
            env["OUTBOUND_MAX_CONCURRENT"] = str(self.outbound_concurrency)
        return env

    def _manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, *args], cwd=REPO, env=self.env(), capture_output=True, text=True, timeout=300
        )
        if result.returncode:
            raise RuntimeError(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def start(self) -> dict:
        self.pg.start()
        self.cache.start()
        self.broker.start()
        self.standin = start_standin(self.root / "halostub", tenant="load")
        self._manage("manage.py", "migrate", "--noinput")
        self._manage("manage.py", "collectstatic", "--noinput")
        seed = json.loads(
            self._manage("-m", "loadtest.seed", str(self.people), self.standin.issuer, "load", str(self.port))
        )
        for slug, portal in seed["portals"].items():
            self.standin.add_client(f"load-{slug}", redirect_uris=[portal["callback_url"]])
        for person in seed["people"]:
            person["sub"] = self.standin.add_user(person["email"], "pw-" + person["email"], "Load person")[
                "sub"
            ]
        for port in (self.port, _free_port()):
            self.replicas.append((port, self._gunicorn(port)))
        for port, process in self.replicas:
            wait_until_answers(
                f"http://127.0.0.1:{port}/healthz", timeout=START_TIMEOUT, what=f"gunicorn on {port}",
                process=process, log_path=self.root / f"gunicorn-{port}.log",
            )  # fmt: skip
        self.start_worker()
        self.beat = self._spawn(
            "beat",
            [
                "-m",
                "celery",
                "-A",
                "portal",
                "beat",
                "-s",
                str(self.root / "beat-schedule"),
                "--loglevel",
                "WARNING",
            ],
        )
        return seed

    def _spawn(self, name: str, args: list[str], extra_env: dict | None = None) -> subprocess.Popen:
        log = (self.root / f"{name}.log").open("ab")
        return subprocess.Popen(
            [*PORTAL_NICE, sys.executable, *args], cwd=REPO, env={**self.env(), **(extra_env or {})},
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def threads_per_worker(self) -> int:
        """``--threads``, or what gunicorn.conf.py picks (twice the per-process outbound bound)."""
        if self.threads is not None:
            return self.threads
        per_process = int(os.environ.get("OUTBOUND_MAX_CONCURRENT_PER_PROCESS", "4"))
        return int(os.environ.get("GUNICORN_THREADS", str(2 * per_process)))

    def _gunicorn(self, port: int) -> subprocess.Popen:
        threads = ["--threads", str(self.threads)] if self.threads is not None else []
        return self._spawn(
            f"gunicorn-{port}",
            ["-m", "gunicorn", "portal.wsgi:application", "--workers", str(self.workers), *threads],
            {"GUNICORN_BIND": f"127.0.0.1:{port}"},
        )

    def start_worker(self) -> None:
        self.worker = self._spawn(
            "worker",
            ["-m", "celery", "-A", "portal", "worker", "--pool", "threads", "--concurrency", "4",
             "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        )  # fmt: skip

    def stop_worker(self) -> None:
        _end(self.worker)

    def stop(self) -> None:
        for _, process in self.replicas:
            _end(process)
        _end(self.worker)
        _end(self.beat)
        if self.standin:
            self.standin.stop()
        self.cache.kill()
        self.broker.kill()
        self.pg.stop()


def _end(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
