"""Run the local HaloPSA stand-in (``halostub``) as a real server on loopback, for tests.

``start_standin(tmp_path)`` migrates a fresh stand-in database in ``tmp_path``, starts
``python -m halostub runserver`` on a free 127.0.0.1 port with the ``/_control/`` API on, waits
(bounded) until discovery answers and returns a :class:`StandIn` to seed it, count its requests and
stop it. The ``standin`` fixture below is session-scoped: one server for the whole run; tests call
``reset_stats()`` before counting.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.servers import free_port, start_logged, stop_process, wait_until_server_answers

REPO_DIR = Path(__file__).resolve().parent.parent
START_TIMEOUT = 20.0
HTTP_TIMEOUT = 10.0


@dataclass
class StandIn:
    """A running stand-in. ``issuer`` is what an SSO config must hold: ``base_url + "/auth"``."""

    base_url: str
    tenant: str
    process: subprocess.Popen
    log_path: Path
    http: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/auth"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def portal_url(self) -> str:
        """The stand-in's "HaloPSA customer portal" page, a natural logout redirect URL."""
        return f"{self.base_url}/portal/"

    def _post(self, path: str, payload: dict | None = None) -> dict:
        response = self.http.post(f"{self.base_url}{path}", json=payload or {}, timeout=30)
        if response.status_code != 200:
            raise AssertionError(f"stand-in {path} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def add_client(
        self,
        client_id: str,
        *,
        redirect_uris: list[str],
        post_logout_redirect_uris: list[str] | None = None,
        client_secret: str | None = None,
    ) -> dict:
        """Create or update an application: public (PKCE only) unless ``client_secret`` is given."""
        return self._post(
            "/_control/clients",
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uris": redirect_uris,
                "post_logout_redirect_uris": post_logout_redirect_uris or [],
            },
        )

    def add_user(self, email: str, password: str, name: str = "") -> dict:
        """Create or update a user; returns ``{"sub": ..., "email": ...}`` (the ID token's ``sub``)."""
        return self._post("/_control/users", {"email": email, "password": password, "name": name})

    def add_link(self, label: str, url: str) -> dict:
        """A custom link on the stand-in's portal page (like HaloPSA's portal custom links)."""
        return self._post("/_control/links", {"label": label, "url": url})

    # --- the HaloPSA API part (``/api``) -----------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    def add_api_client(self, client_id: str, client_secret: str) -> dict:
        """An API application using client credentials ("Client ID and Secret (Services)")."""
        return self._post("/_control/api/client", {"client_id": client_id, "client_secret": client_secret})

    def seed_api(self, *, clients=(), users=(), invoices=(), reset: bool = False) -> dict:
        """Create (or replace) HaloPSA-shaped clients, users and invoices; ``reset`` wipes the API data
        (and the fault knobs) first."""
        return self._post(
            "/_control/api/seed",
            {"clients": list(clients), "users": list(users), "invoices": list(invoices), "reset": reset},
        )

    def generate_api(self, *, clients: int, users: int, invoices: int) -> dict:
        return self._post(
            "/_control/api/generate", {"clients": clients, "users": users, "invoices": invoices}
        )

    def change(self, kind: str, record_id: int, notify: bool = True, **fields) -> dict:
        """Change a record upstream (stamping it modified); delivers webhooks unless ``notify=False``."""
        return self._post(
            "/_control/api/change", {"kind": kind, "id": record_id, "fields": fields, "notify": notify}
        )

    def delete(self, kind: str, record_id: int) -> dict:
        return self._post("/_control/api/delete", {"kind": kind, "id": record_id})

    def knobs(self, **knobs) -> dict:
        """``throttle={"count", "retry_after"}``, ``fail={"path", "page_no", "count", "status"}``,
        ``slow=seconds``, ``reset=True``."""
        return self._post("/_control/api/knobs", knobs)

    def posted_payments(self) -> list:
        return self.http.get(f"{self.base_url}/_control/api/payments", timeout=HTTP_TIMEOUT).json()

    def deliveries(self) -> list:
        return self.http.get(f"{self.base_url}/_control/api/deliveries", timeout=HTTP_TIMEOUT).json()

    def webhooks(self) -> list:
        return self.http.get(f"{self.base_url}/_control/api/webhooks", timeout=HTTP_TIMEOUT).json()

    def stats(self) -> dict:
        """``{"counts": {path: n}, "tenants": {path: [tenant or None per request]}}`` since the last reset."""
        response = self.http.get(f"{self.base_url}/_control/stats", timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return response.json()

    def count(self, path: str) -> int:
        """Requests to ``path`` (e.g. ``"/auth/token/"``) since the last reset."""
        return self.stats()["counts"].get(path, 0)

    def reset_stats(self) -> None:
        self._post("/_control/stats/reset")

    def login_session(self, email: str, password: str) -> requests.Session:
        """A requests session already signed in at the stand-in (its ``halo_sessionid`` cookie set)."""
        session = requests.Session()
        login_url = f"{self.base_url}/login/"
        page = session.get(login_url, timeout=HTTP_TIMEOUT)
        page.raise_for_status()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if not match:
            raise AssertionError("no CSRF token on the stand-in's login page")
        response = session.post(
            login_url,
            data={"csrfmiddlewaretoken": match.group(1), "username": email, "password": password, "next": ""},
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
        if response.status_code != 302:
            raise AssertionError(f"stand-in sign-in as {email} failed ({response.status_code})")
        return session

    def stop(self) -> None:
        """Terminate, wait a bounded time, then kill."""
        self.http.close()
        stop_process(self.process)


def standin_env(tmp_path: Path, *, tenant: str, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "HALOSTUB_DB": str(tmp_path / "halostub.sqlite3"),
        "HALOSTUB_TENANT": tenant,
        "HALOSTUB_CONTROL": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra_env or {})
    return env


def start_standin(
    tmp_path: Path, *, tenant: str = "demo", extra_env: dict[str, str] | None = None
) -> StandIn:
    """Migrate a stand-in database in ``tmp_path`` and serve it on a free loopback port.

    ``tenant=""`` runs it like an on-premise HaloPSA (no tenant parameter needed). ``extra_env`` passes
    further settings, e.g. ``{"HALOSTUB_ISS_PARAMETER": "1"}`` for RFC 9207 ``iss`` responses.
    """
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = standin_env(tmp_path, tenant=tenant, extra_env=extra_env)
    subprocess.run(
        [sys.executable, "-m", "halostub", "migrate", "--noinput", "-v0"],
        cwd=REPO_DIR,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    port = free_port()
    log_path = tmp_path / "halostub.log"
    process = start_logged(
        [sys.executable, "-m", "halostub", "runserver", f"127.0.0.1:{port}", "--noreload"],
        log_path=log_path,
        cwd=REPO_DIR,
        env=env,
    )
    standin = StandIn(base_url=f"http://127.0.0.1:{port}", tenant=tenant, process=process, log_path=log_path)
    wait_until_server_answers(standin, standin.discovery_url, timeout=START_TIMEOUT, what="the stand-in")
    return standin


@pytest.fixture(scope="session")
def standin(tmp_path_factory):
    """One stand-in server for the test session (tenant ``demo``); wire it in ``tests/conftest.py``."""
    server = start_standin(tmp_path_factory.mktemp("standin"))
    yield server
    server.stop()
