"""What a worker's memory was when it died: sampled from /proc while it runs (Linux; nothing
elsewhere).

A worker that reaches its own limit (`memory`, an address-space limit) gets a MemoryError, never
SIGKILL; a SIGKILL comes from outside: the machine's out-of-memory killer, a CI runner, a person.
The samples say which is likely, instead of guessing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

INTERVAL = 0.25  # seconds between samples: a worker's memory grows over seconds, not microseconds
# the machine had less than this share of its memory available: its OOM killer's doing
LOW_AVAILABLE = 0.05


@dataclass
class MemorySample:
    seconds: float  # since the worker started
    resident: int  # MiB (VmRSS)
    address_space: int  # MiB (VmSize): what the `memory` limit counts
    available: int | None  # MiB the machine had available (MemAvailable), None where unknown
    total: int | None  # MiB of the machine

    @property
    def machine_was_short(self) -> bool:
        return (
            self.available is not None
            and bool(self.total)
            and self.available < LOW_AVAILABLE * (self.total or 0)
        )


class MemoryWatch:
    """Samples one process's memory every INTERVAL seconds in a thread, until stop(); `last` is the
    newest."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.last: MemorySample | None = None
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> MemorySample | None:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.last

    def _run(self) -> None:
        while True:
            sample = self._sample()
            if sample is None:  # the process is gone (or there is no /proc)
                return
            self.last = sample
            if self._stop.wait(INTERVAL):
                return

    def _sample(self) -> MemorySample | None:
        status = _read_kib(f"/proc/{self.pid}/status", ("VmRSS", "VmSize"))
        if "VmRSS" not in status:  # a zombie has no memory left to show: keep the sample before
            return None
        machine = _read_kib("/proc/meminfo", ("MemAvailable", "MemTotal"))
        return MemorySample(
            round(time.monotonic() - self._started, 1),
            status["VmRSS"] >> 10,
            status.get("VmSize", 0) >> 10,
            _mib(machine.get("MemAvailable")),
            _mib(machine.get("MemTotal")),
        )


def _mib(kib: int | None) -> int | None:
    return None if kib is None else kib >> 10


def _read_kib(path: str, keys: tuple[str, ...]) -> dict[str, int]:
    found: dict[str, int] = {}
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key in keys:
                    found[key] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return found
