"""Write report files so a reader (a later CI step, an artifact upload) never sees half a file.

A regular file (or a path that does not exist yet) is written to a temporary file beside it and
renamed over it. A path that is not a regular file (`/dev/stdout`, `/dev/null`, a FIFO, a terminal)
is written in place: renaming over it would replace the device with a file (as root, even in /dev).
`-` means standard output.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile

STDOUT = "-"


def _umask() -> int:
    # mkstemp creates files 0600; a report written as root inside the action's container must stay
    # readable by the runner's user in later steps, so apply the usual 0666 & ~umask instead.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_stream(path: str) -> bool:
    """Whether `path` is written in place, once, rather than renamed over: `-`, a device, a FIFO, a
    socket, or a link into /proc (/dev/stdout leads to /proc/self/fd/1, which may be a regular file
    a shell opened)."""
    if path == STDOUT or _leads_into_proc(path):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:  # does not exist yet (or a dangling link): a new regular file
        return False
    # a directory fails below with its own message
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _leads_into_proc(path: str) -> bool:
    current = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on links followed
        if current == "/proc" or current.startswith("/proc/"):
            return True
        if not os.path.islink(current):
            return False
        current = os.path.normpath(os.path.join(os.path.dirname(current), os.readlink(current)))
    return False


def write_atomic(path: str, text: str) -> None:
    """Write `text` (UTF-8) to `path` via a temporary file in the same directory, fsync, os.replace;
    a stream (is_stream) is written in place."""
    if is_stream(path):
        _write_in_place(path, text)
        return
    target = os.path.abspath(path)
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix="." + os.path.basename(target) + ".", suffix=".tmp", dir=directory
    )
    try:
        # errors="replace": a lone surrogate (undecodable bytes from user output) must not lose the
        # report.
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _write_in_place(path: str, text: str) -> None:
    data = text.encode("utf-8", errors="replace")
    if path == STDOUT:
        sys.stdout.flush()  # after what the console printed before
        stream = sys.stdout.buffer
        stream.write(data)
        stream.flush()
        return
    # Appending, never truncating: behind /dev/stdout may be the regular file a shell opened for the
    # whole output, which already holds what the console printed. No O_CREAT: a device that is gone
    # is an error.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; not possible everywhere (e.g. Windows), and not worth failing
    # for.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
