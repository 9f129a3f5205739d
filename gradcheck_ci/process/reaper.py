"""Everything a worker starts ends with it: processes in its group, in a session of their own
(`setsid`), or double-forked away from it.

The worker leads a process group of its own, which reaches what stays in the group. What leaves the
group escapes a group kill, and a double fork leaves no parent that waits for it; so the process
that runs the workers becomes a child subreaper (Linux's PR_SET_CHILD_SUBREAPER): an orphan anywhere
below it is re-parented to it instead of to init, and after each worker it ends whatever has become
its child since the worker started. Elsewhere only the group kill applies.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _find_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# looked up in the parent: a forked child calls it with no imports before exec
_PRCTL = _find_prctl()


def die_with_parent() -> None:
    """In a forked child before exec: SIGKILL when the parent dies (Linux; nothing elsewhere)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


_subreaper = False


def become_subreaper() -> bool:
    """Make this process the subreaper of its descendants (once); whether it is one."""
    global _subreaper
    if not _subreaper and _PRCTL is not None:
        _subreaper = _PRCTL(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    return _subreaper


def children() -> set[int]:
    """The PIDs whose parent is this process (Linux: from /proc; empty elsewhere)."""
    me = os.getpid()
    found: set[int] = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last
        # ')'
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == me:
            found.add(int(entry))
    return found


def end_leftovers(before: set[int]) -> int:
    """Kill and reap the children of this process that were not `before` the worker started: the
    worker's descendants, re-parented here when their own parents ended. Repeats until none is left
    (killing one re-parents its children here too). The number ended."""
    if not _subreaper:
        return 0
    ended: set[int] = set()
    for _ in range(100):  # a bound against a fork bomb outrunning us; each round kills all it sees
        leftovers = children() - before
        if not leftovers:
            break
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in leftovers:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:  # reaped already (another wait), or not ours after all
                pass
            ended.add(pid)
    return len(ended)


def kill_group(pgid: int) -> None:
    """SIGKILL the process group `pgid` (the worker's): what is still in it, the worker or not."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
