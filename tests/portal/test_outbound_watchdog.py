"""The outbound guard's deadlines, kept by one watchdog thread per process."""

import socket
import threading
import time

from portal.outbound_transport import Guard


def connected_pair():
    left, right = socket.socketpair()
    left.settimeout(5)  # bounded: a guard that never fires fails the test instead of hanging it
    return left, right


def test_a_deadline_shuts_the_calls_socket_down_even_behind_a_later_one():
    later = Guard(30)  # queued first, due much later
    guard = Guard(0.2)
    sock, peer = connected_pair()
    guard.register(sock)
    began = time.monotonic()

    assert sock.recv(1) == b""  # the pending read returns: the socket was shut down
    assert 0.15 <= time.monotonic() - began < 3
    assert guard.expired and not later.expired
    later.cancel()
    sock.close()
    peer.close()


def test_a_cancelled_guard_never_touches_its_sockets_again():
    guard = Guard(0.1)
    sock, peer = connected_pair()
    guard.register(sock)
    guard.cancel()
    time.sleep(0.3)
    peer.sendall(b"x")
    assert sock.recv(1) == b"x"  # still open
    assert not guard.expired
    sock.close()
    peer.close()


def test_guards_share_one_thread():
    Guard(1).cancel()  # the watchdog is running
    before = threading.active_count()
    guards = [Guard(5) for _ in range(50)]
    assert threading.active_count() == before
    for guard in guards:
        guard.cancel()
