"""A throwaway PostgreSQL cluster on a free loopback port, for tests and ``make loadtest`` that
restart PostgreSQL (never the machine's shared server).

``initdb`` refuses to run as root: as root, every server command runs as the ``postgres`` user
(``runuser``), in a temporary directory that user owns. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2

from tests.servers import free_port

START_TIMEOUT = 30.0


def _bindir() -> Path:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("pg_ctl")
    if not found:
        raise RuntimeError("PostgreSQL server binaries (pg_ctl, initdb) not found")
    return Path(found).parent


class ThrowawayCluster:
    def __init__(self) -> None:
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="portal-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, user="postgres", group="postgres")

    def _run(self, *args: str, timeout: float = START_TIMEOUT) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout, cwd=self.root)

    def url(self, name: str = "portal") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> ThrowawayCluster:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self._pg_ctl("start")
        conn = self.connect("postgres")
        try:
            conn.autocommit = True
            conn.cursor().execute("CREATE DATABASE portal")
        finally:
            conn.close()
        return self

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            action,
            "-D",
            str(self.data),
            "-w",
            "-t",
            "30",
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            *extra,
        )

    def restart(self) -> None:
        """A fast restart: running backends are terminated, the server is back within about a second."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        """Stop the server (bounded) and delete its files."""
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "20")
        shutil.rmtree(self.root, ignore_errors=True)

    def connect(self, name: str = "portal"):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                return psycopg2.connect(
                    host="127.0.0.1", port=self.port, user="postgres", dbname=name, connect_timeout=3
                )
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
