"""The guards around user code (gradcheck_ci/usercode/guard.py): no connection to another host,
remembered with its stack; a time limit that the user's `except Exception` cannot swallow;
everything restored afterwards."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

import pytest

from gradcheck_ci.usercode import guard


@pytest.fixture(autouse=True)
def no_attempts():
    guard.attempts.clear()
    yield
    guard.attempts.clear()


def test_connections_to_other_hosts_are_refused_and_remembered():
    originals = (socket.socket.connect, socket.getaddrinfo, socket.create_connection)
    with guard.no_network():
        with pytest.raises(guard.NetworkBlocked, match="without network access"):
            socket.create_connection(("data.example.org", 80))
        # how urllib reports it: wrapped in its own error
        with pytest.raises(urllib.error.URLError) as wrapped:
            urllib.request.urlopen("http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz")
        assert isinstance(wrapped.value.reason, guard.NetworkBlocked)
        with socket.socket() as raw, pytest.raises(OSError):
            raw.connect(("203.0.113.7", 443))
    assert [a.host for a in guard.attempts] == ["data.example.org", "yann.lecun.com", "203.0.113.7"]
    assert any(
        f.name == "test_connections_to_other_hosts_are_refused_and_remembered"
        for f in guard.attempts[0].stack
    )
    assert (socket.socket.connect, socket.getaddrinfo, socket.create_connection) == originals


def test_this_machine_stays_reachable():
    with socket.socket() as server, guard.no_network():
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname()):
            pass
    assert guard.attempts == []


def test_a_time_limit_stops_code_that_catches_every_exception():
    iterations = 0
    with pytest.raises(guard.TooSlow, match="took longer than 0.05 s"):
        with guard.time_limit(0.05):
            while True:
                try:
                    iterations += 1
                except Exception:  # noqa: BLE001 - user code like this must not keep the limit from working
                    pass
    assert iterations > 0
    with guard.time_limit(None):  # no limit: the block runs as it is
        assert sum(range(10)) == 45


def _spin(seconds: float = 5.0) -> None:
    """Busy Python code that a limit should stop well before `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    pytest.fail(f"no time limit stopped it within {seconds:g} s")


def test_a_time_limit_inside_another_leaves_the_outer_one_running():
    # the inner limit stops its block; the outer one still stops the rest of its own
    with pytest.raises(guard.TooSlow, match="took longer than 0.3 s"):
        with guard.time_limit(0.3):
            with pytest.raises(guard.TooSlow, match="took longer than 0.05 s"):
                with guard.time_limit(0.05):
                    _spin()
            _spin()
    # an inner limit longer than what is left of the outer one: the outer one stops it
    with pytest.raises(guard.TooSlow, match="took longer than 0.05 s"):
        with guard.time_limit(0.05):
            with guard.time_limit(10.0):
                _spin()
