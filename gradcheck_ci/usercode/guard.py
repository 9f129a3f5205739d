"""Guards around the user's code in a worker: no network, and a time limit on importing a factory's
module.

A gradient check needs no data and no trained weights: a module that downloads a data set or trains
a network when it is imported (an example script run as a module) is not a factory module. Without
these guards such code hangs on a network it cannot reach, or trains until the model's timeout, and
the user learns nothing. With them it stops at once, and blame.user_code_error says what happened
and where:
- `no_network()`: every connection to another host raises `NetworkBlocked` (an OSError, as a refused
  connection would), and the attempt is remembered with its stack (`attempts`), even when the user's
  code wraps the error in its own (urllib's URLError) or swallows it;
- `time_limit(seconds)`: raises `TooSlow` in the main thread when the block runs longer. It derives
  from BaseException, so the user's `except Exception:` cannot swallow it.

Kept free of the rest of the package's model layer (blame interprets the stacks), so blame may
import it.
"""

from __future__ import annotations

import signal
import socket
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "", None)


class NetworkBlocked(ConnectionRefusedError):
    """The user's code tried to reach another host; the check runs without network access."""


class TooSlow(BaseException):
    """A guarded block ran longer than its limit (see time_limit)."""

    def __init__(self, seconds: float):
        super().__init__(f"took longer than {seconds:g} s")
        self.seconds = seconds


@dataclass
class Attempt:
    host: str
    stack: list[traceback.FrameSummary]  # where the attempt was made, outermost first


attempts: list[Attempt] = []  # every blocked attempt in this process, oldest first


def _host(address: Any) -> str | None:
    if isinstance(address, tuple) and address:
        return str(address[0])
    if isinstance(address, (str, bytes)):
        return address.decode() if isinstance(address, bytes) else address
    return None


def _blocked(host: str | None) -> None:
    attempts.append(Attempt(str(host), traceback.extract_stack()[:-2]))
    raise NetworkBlocked(f"gradcheck-ci runs models without network access (connecting to {host})")


@contextmanager
def no_network() -> Iterator[list[Attempt]]:
    """While active, connections to other hosts fail (NetworkBlocked) and are recorded in
    `attempts`."""
    originals = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.getaddrinfo,
        socket.create_connection,
    )
    connect, connect_ex, getaddrinfo, create_connection = originals

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if self.family != getattr(socket, "AF_UNIX", None) and _host(address) not in _LOCAL_HOSTS:
            _blocked(_host(address))
        return connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        if self.family != getattr(socket, "AF_UNIX", None) and _host(address) not in _LOCAL_HOSTS:
            _blocked(_host(address))
        return connect_ex(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if _host(host) not in _LOCAL_HOSTS:
            _blocked(_host(host))
        return getaddrinfo(host, *args, **kwargs)

    def guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        if _host(address) not in _LOCAL_HOSTS:
            _blocked(_host(address))
        return create_connection(address, *args, **kwargs)

    replaced = {
        (socket.socket, "connect"): guarded_connect,
        (socket.socket, "connect_ex"): guarded_connect_ex,
        (socket, "getaddrinfo"): guarded_getaddrinfo,
        (socket, "create_connection"): guarded_create_connection,
    }
    for (owner, name), function in replaced.items():
        setattr(owner, name, function)
    try:
        yield attempts
    finally:
        for (owner, name), original in zip(replaced, originals, strict=True):
            setattr(owner, name, original)


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise TooSlow in the main thread when the block runs longer than `seconds` (None: no limit).

    Uses SIGALRM's interval timer; outside the main thread, or where there is none, the block runs
    unlimited. Inside another limit that ends sooner, the outer one stands; inside one that ends
    later, the outer one runs on after the block (its time less the block's).
    """
    if not seconds or not hasattr(signal, "setitimer"):
        yield
        return
    outer, _ = signal.getitimer(signal.ITIMER_REAL)
    if outer and outer <= seconds:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise TooSlow(seconds)

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except ValueError:  # not the main thread
        yield
        return
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            # the outer limit's time left (at least a moment: it is due now)
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 1e-3))
