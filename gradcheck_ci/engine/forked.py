"""Loss evaluations shared with a forked child, on a machine with a spare CPU.

A line needs its points (f(+-h), f(+-2h), ...) before it can decide anything, and they do not depend
on one another: `split` evaluates the second half of such a batch in a child forked for it (it sees
the parent's memory as it is: the compiled functions, the data, the direction) while the parent
evaluates the first half, and the child sends its floats back through a pipe. Same function, same
arrays, same CPU: the same values as one process would get, in about half the time. Stdlib only, no
knowledge of models.

It is used only where it pays: a spare CPU (this process's affinity, less what `hold` took for other
children), fork available, and calls that take at least WORTH_SECONDS each (a fork costs a few
milliseconds and the child's copy-on-write pages more). A child that fails or dies costs nothing but
time: its half is evaluated here. GRADCHECK_CI_FORK_EVALUATIONS=never turns it off, =always drops
the time condition (tests).

A child forked for long work of its own (the diagnosis' background profile) holds the second CPU;
once the parent has nothing left but to wait for it, the parent `lend`s that CPU back, and the
child's own batches are split again from then on.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

WORTH_SECONDS = 0.02  # below this per call, a fork costs more than the call it saves
# CPUs held by children running beside this process (diagnose/profile.py's background profile)
_reserved = 0
_child = False  # in a child forked here: never fork again from it, unless lent a CPU
# in a child holding the second CPU: its first byte is 1 once the parent waits
_loan: mmap.mmap | None = None


def cpus() -> int:
    """The CPUs this process may run on (Linux: its affinity, which CI runners and taskset
    narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def spare() -> bool:
    """Whether a CPU is free for a child: fork exists, and another CPU is not taken by a child
    already running beside us (or, in such a child, its parent has lent it back)."""
    if not hasattr(os, "fork") or cpus() < 2:
        return False
    if _child:
        return _loan is not None and _loan[0] == 1
    return cpus() - _reserved >= 2


def hold() -> mmap.mmap:
    """One CPU is taken by a child about to be forked for work of its own (not `split`'s), until
    `release`. Returns the loan the child takes (mark_child) and the parent may `lend`."""
    global _reserved
    _reserved += 1
    # anonymous and shared: the child forked after this sees the parent's writes
    return mmap.mmap(-1, 1)


def lend(loan: mmap.mmap) -> None:
    """The parent only waits from now on: the child may use the CPU it held for the parent."""
    loan[0] = 1


def release(loan: mmap.mmap) -> None:
    """The child is gone: its CPU is free again."""
    global _reserved
    _reserved = max(_reserved - 1, 0)
    loan.close()


def mark_child(loan: mmap.mmap | None = None) -> None:
    """Called first in a forked child: it keeps to one CPU, unless given the `loan` its parent may
    lend."""
    global _child, _loan
    _child, _loan = True, loan


def _pays(seconds_per_call: float) -> bool:
    setting = os.environ.get("GRADCHECK_CI_FORK_EVALUATIONS", "auto")
    if setting == "never" or not spare():
        return False
    return setting == "always" or seconds_per_call >= WORTH_SECONDS


def split(fn: Callable[[T], float], items: Sequence[T], seconds_per_call: float) -> list[float]:
    """[fn(item) for item in items], the second half in a forked child when that pays (see the
    module)."""
    if len(items) < 2 or not _pays(seconds_per_call):
        return [fn(item) for item in items]
    half = (len(items) + 1) // 2
    mine, theirs = items[:half], items[half:]
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return [fn(item) for item in items]
    # the child: its half, packed as doubles, then exit without running the parent's cleanups
    if pid == 0:
        os.close(read_end)
        code = 1
        try:
            mark_child()  # a child of a split never splits again
            payload = struct.pack(f"{len(theirs)}d", *(fn(item) for item in theirs))
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        results = [fn(item) for item in mine]
    except BaseException:
        _reap(pid, read_end)
        raise
    return results + _collect(pid, read_end, fn, theirs)


def _collect(pid: int, read_end: int, fn: Callable[[T], float], theirs: Sequence[T]) -> list[float]:
    """The child's values; when it failed, the same evaluations here."""
    expected = 8 * len(theirs)
    chunks = []
    with os.fdopen(read_end, "rb") as stream:
        while True:
            chunk = stream.read(expected)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    payload = b"".join(chunks)
    if status != 0 or len(payload) != expected:
        return [fn(item) for item in theirs]
    return list(struct.unpack(f"{len(theirs)}d", payload))


def _reap(pid: int, read_end: int) -> None:
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except OSError:
        pass
    os.close(read_end)
