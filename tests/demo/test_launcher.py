"""``make run``'s launcher: a restart right after Ctrl-C is not refused, a stop is clean."""

import signal
import socket

import pytest

from demo.__main__ import _sigterm, port_free, stop


def _time_wait_port() -> int:
    """A port whose only trace is a connection in TIME_WAIT (what a just-stopped server leaves)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    accepted, _ = listener.accept()
    accepted.close()  # the server side closes first: its end goes to TIME_WAIT
    client.recv(1)
    client.close()
    listener.close()
    return port


def test_a_port_in_time_wait_counts_as_free():
    port = _time_wait_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as plain:
        try:
            plain.bind(("127.0.0.1", port))
            plain_refused = False
        except OSError:
            plain_refused = True
    assert plain_refused, "no TIME_WAIT left behind; the scenario did not happen"
    assert port_free(port)


def test_a_listening_port_is_in_use():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert not port_free(server.getsockname()[1])


def test_sigterm_stops_like_ctrl_c_and_a_second_signal_is_ignored():
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            _sigterm(signal.SIGTERM, None)
        except KeyboardInterrupt:
            pass
        else:
            raise AssertionError("SIGTERM must unwind like Ctrl-C")
        stop({})
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@pytest.mark.django_db
def test_the_demo_marks_its_sso_config_tested_once_the_stand_in_answers(portal, standin):
    """The admin showed the seeded config as "Never tested"; the launcher runs the real test."""
    from demo.seed import run_sso_connection_test
    from sso.models import SSOConfig
    from sso.services import sso_config_create

    config = sso_config_create(
        portal=portal, issuer=standin.issuer, client_id="demo-launcher-test", tenant=standin.tenant,
        description="HaloPSA", enabled=True,
    )  # fmt: skip
    standin.add_client(config.client_id, redirect_uris=[config.callback_url])
    assert not config.last_test_passed

    outcome = run_sso_connection_test(host=portal.host, issuer=standin.issuer)

    assert outcome == "SSO Test connection passed"
    config = SSOConfig.objects.get(pk=config.pk)
    assert config.last_test_passed and config.last_tested_at is not None
