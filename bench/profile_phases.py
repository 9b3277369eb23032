"""Where a returning callback's wall time goes, phase by phase, without cProfile's overhead (bench only).

Django in-process with the test client on a fresh PostgreSQL database and Redis as cache and sessions
(as ``bench/profile_callback.py``), the tests' provider on loopback in this process (so CPU figures
include its token signing). Chosen functions are wrapped with a timer for the callback requests only;
phases nest (the sign-in's writes are inside the callback), so the rows do not add up to the total.
``--delay-ms`` makes the provider answer that much later. Run:
``.venv/bin/python bench/profile_phases.py --rounds 300``.
"""

import argparse
import collections
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.inprocess import add_database_arguments, portal_in_process  # noqa: E402

_wall: collections.Counter = collections.Counter()
_cpu: collections.Counter = collections.Counter()
_calls: collections.Counter = collections.Counter()
_on = [False]


def _timed(owner, name: str, label: str) -> None:
    """Replace ``owner.name`` by a wrapper adding its wall and CPU time to ``label`` while measuring."""
    inner = getattr(owner, name)

    def wrapper(*args, **kwargs):
        if not _on[0]:
            return inner(*args, **kwargs)
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            _wall[label] += time.perf_counter() - wall
            _cpu[label] += time.process_time() - cpu
            _calls[label] += 1

    setattr(owner, name, wrapper)


def _instrument() -> None:
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.utils import CursorWrapper
    from redis.connection import AbstractConnection

    import portal.middleware
    import sso.backend
    import sso.views

    view, backend = sso.views.SSOCallbackView, sso.backend.PortalOIDCBackend
    for owner, name, label in [
        (view, "handle", "callback view (all of it)"),
        (backend, "get_token", "token call (with the provider's own work)"),
        (backend, "verify_token", "ID-token checks"),
        (view, "record_sign_in", "sign-in's writes (transaction body)"),
        (backend, "identity_login", "  identity lock, update, audit row"),
        (view, "login_success", "  auth.login (key rotation, last_login)"),
        (sso.views, "sso_event_record", "  SSO event row"),
        (sso.views, "session_save_in_transaction", "  session row"),
        (BaseDatabaseWrapper, "commit", "commit"),
        (sso.views, "pop_state", "state pop (Redis GETDEL)"),
        (portal.middleware, "portal_for_host_name", "portal by host"),
        (sso.views, "sso_config_by_key", "SSO config by key"),
        (SessionMiddleware, "process_request", "session middleware in"),
        (SessionMiddleware, "process_response", "session middleware out"),
        (CursorWrapper, "execute", "SQL via Django cursors (not prepared lookups)"),
        (AbstractConnection, "send_packed_command", "Redis commands sent"),
    ]:
        _timed(owner, name, label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    add_database_arguments(parser)
    args = parser.parse_args()
    with portal_in_process(
        database_url=args.database_url, redis_url=args.redis_url, suffix="phases"
    ) as portal:
        _instrument()
        portal.op.knobs.delay = args.delay_ms / 1000
        client, callback_path = portal.client, portal.callback_path
        for _ in range(10):
            assert client.get(callback_path()).status_code == 302
        total_wall = total_cpu = 0.0
        for _ in range(args.rounds):
            path = callback_path()
            _on[0] = True
            wall, cpu = time.perf_counter(), time.process_time()
            status = client.get(path).status_code
            total_wall += time.perf_counter() - wall
            total_cpu += time.process_time() - cpu
            _on[0] = False
            assert status == 302
    n = args.rounds
    print(f"{n} returning callbacks, provider delay {args.delay_ms:g} ms (test client, in-process):")
    print(f"  {'whole request':44s} wall {total_wall * 1000 / n:6.2f} ms  cpu {total_cpu * 1000 / n:6.2f} ms")
    for label in sorted(_wall, key=lambda k: -_wall[k]):
        print(
            f"  {label:44s} wall {_wall[label] * 1000 / n:6.2f} ms  cpu {_cpu[label] * 1000 / n:6.2f} ms"
            f"  ({_calls[label] / n:g} per callback)"
        )


if __name__ == "__main__":
    main()
