"""``python -m demo``: prepare and serve the portal (acme.localhost:8000) and the HaloPSA stand-in
(127.0.0.1:8001), print what to open, and stop both on Ctrl-C.

The two run on different host names, so their cookies never mix. The portal reaches the stand-in
server-to-server at 127.0.0.1 (``*.localhost`` names are for browsers, which resolve them themselves).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from . import seed

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


def demo_environment() -> None:
    """The portal's settings for the demo: DEBUG, SQLite in the repo, http issuers, inline tasks."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{seed.REPO_DIR / 'db.sqlite3'}",
            "SSO_ALLOW_INSECURE_HTTP": "true",
            # The HaloPSA stand-in answers on loopback, which the outbound policy refuses otherwise.
            "SSO_PROVIDER_ALLOWED_NETWORKS": "127.0.0.1/32",
            "CELERY_BROKER_URL": "",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "STRIPE_API_BASE": seed.STRIPE_URL,
            "STRIPE_JS_URL": seed.STRIPE_JS_URL,
            "PYTHONUNBUFFERED": "1",
        }
    )
    os.environ.setdefault("EMAIL_URL", "consolemail://")


def standin_environment() -> dict[str, str]:
    env = {**os.environ, "HALOSTUB_TENANT": seed.TENANT}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``port`` now.

    With ``SO_REUSEADDR``, as the servers themselves bind: connections of a demo stopped a moment
    ago linger in TIME_WAIT for a minute, which is no reason to refuse a restart; a server still
    listening there is (Linux refuses that bind even with the option).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _answers(url: str, *, host: str | None = None) -> bool:
    import requests

    try:
        headers = {"Host": host} if host else {}
        return requests.get(url, headers=headers, timeout=2, allow_redirects=False).status_code < 500
    except requests.RequestException:
        return False


def wait_until_ready(children: dict[str, subprocess.Popen]) -> None:
    """Both servers answer (bounded): the stand-in's discovery, the portal's login page on its host."""
    checks = {
        "HaloPSA stand-in": (f"{seed.ISSUER}/.well-known/openid-configuration", None),
        "portal": (f"http://127.0.0.1:{seed.PORTAL_PORT}/login/", f"{seed.PORTAL_HOST}:{seed.PORTAL_PORT}"),
        "Stripe stand-in (localstripe)": (seed.STRIPE_JS_URL, None),
    }
    pending = dict(checks)
    deadline = time.monotonic() + READY_TIMEOUT
    while pending and time.monotonic() < deadline:
        for name, child in children.items():
            if child.poll() is not None:
                raise SystemExit(f"[demo] the {name} server exited (status {child.returncode}); see above.")
        for name, (url, host) in list(pending.items()):
            if _answers(url, host=host):
                del pending[name]
        if pending:
            time.sleep(0.3)
    if pending:
        raise SystemExit(f"[demo] no answer within {READY_TIMEOUT:.0f} s from: {', '.join(pending)}")


def banner(config: seed.DemoConfig) -> str:
    users = "\n".join(
        f"      {email:<22} password {password:<8} {name}, {who}"
        for email, password, name, who in seed.STANDIN_USERS
    )
    line = "=" * 100
    return f"""
{line}
  Billing portal demo is running.

  Open the portal:   {seed.PORTAL_URL}/
      Click "HaloPSA" and sign in at the stand-in as one of:
{users}
      A first SSO login sends a verification mail: open its link in the dev mailbox (also printed here).

  HaloPSA stand-in:  {seed.STANDIN_PORTAL_PAGE}  (its customer portal; "Billing" is the deep-login link)
      issuer {seed.ISSUER}   client ID {seed.CLIENT_ID}   tenant {seed.TENANT}
  SSO login URL:     {config.login_url}
  Admin:             {seed.PORTAL_URL}/admin/   {seed.ADMIN_EMAIL} / {seed.ADMIN_PASSWORD} (superuser, all portals)
                     portal staff (Acme only): {seed.STAFF_EMAIL} / {seed.STAFF_PASSWORD}
  Card payments:     Stripe stand-in (localstripe) at {seed.STRIPE_URL}; pay with card 4242424242424242
                     (3-D Secure: 4000002500003155, declined: 4000000000000341), any future expiry, any CVC
  Dev mailbox:       {seed.PORTAL_URL}/dev/mailbox/  (every mail the portal sends, links clickable)
  HaloPSA API sync:  invoices HALO-5001..5005 come from the stand-in. Change one and watch it arrive:
      .venv/bin/python -m halostub standin_api change-invoice HALO-5002 --total 999.00
      (the stand-in sends its webhook; the portal re-reads the invoice; reload the invoice page)

  *.localhost names resolve in Chrome and Firefox; elsewhere add "127.0.0.1 {seed.PORTAL_HOST}" to /etc/hosts.
  Press Ctrl-C to stop both servers.
{line}
"""


def stop(children: dict[str, subprocess.Popen]) -> None:
    """Forward an interrupt to each child still running, wait a bounded time, then kill.

    A second Ctrl-C or SIGTERM while stopping is ignored, so stopping never ends in a traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=STOP_TIMEOUT)


def _sigterm(_signum, _frame):
    raise KeyboardInterrupt


def main() -> int:
    # SIGTERM (docker stop, systemd, kill) stops the demo like Ctrl-C, from the very start.
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        return _run()
    except KeyboardInterrupt:
        print("\n[demo] stopped", flush=True)
        return 0


def _run() -> int:
    os.chdir(seed.REPO_DIR)
    sys.path.insert(0, str(seed.REPO_DIR))
    demo_environment()
    for port in (seed.PORTAL_PORT, seed.STANDIN_PORT, seed.STRIPE_PORT):
        if not port_free(port):
            print(f"[demo] port {port} on 127.0.0.1 is in use: is another demo running?", file=sys.stderr)
            return 1

    import django

    django.setup()
    config = seed.prepare_portal()
    standin_env = standin_environment()
    seed.prepare_standin(config, env=standin_env)
    stripe_webhook_url = seed.prepare_stripe()

    children: dict[str, subprocess.Popen] = {}
    try:
        children["HaloPSA stand-in"] = subprocess.Popen(  # noqa: S603 - fixed argv, our own python
            [sys.executable, "-m", "halostub", "runserver", f"127.0.0.1:{seed.STANDIN_PORT}", "--noreload"],
            env=standin_env,
        )
        children["Stripe stand-in (localstripe)"] = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "stripestub", "--port", str(seed.STRIPE_PORT)],
            env=standin_env,
        )
        children["portal"] = subprocess.Popen(  # noqa: S603 - fixed argv, our own python
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{seed.PORTAL_PORT}", "--noreload"],
            env=dict(os.environ),
        )
        wait_until_ready(children)
        print(f"[demo] {seed.run_sso_connection_test()}", flush=True)
        print(f"[demo] {seed.sync_from_standin()}", flush=True)
        seed.register_stripe_webhook(stripe_webhook_url)
        print(banner(config), flush=True)
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
        stopped = [name for name, child in children.items() if child.poll() is not None]
        print(f"[demo] the {' and '.join(stopped)} server stopped; stopping the rest.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n[demo] stopping both servers", flush=True)
        return 0
    finally:
        stop(children)


if __name__ == "__main__":
    sys.exit(main())
