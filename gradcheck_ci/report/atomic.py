"""Write report files so a reader (a later CI step, an artifact upload) never sees half a file."""
from __future__ import annotations

import os
import tempfile


def _umask() -> int:
    # mkstemp creates files 0600; a report written as root inside the action's container must stay
    # readable by the runner's user in later steps, so apply the usual 0666 & ~umask instead.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str, text: str) -> None:
    """Write `text` (UTF-8) to `path` via a temporary file in the same directory, fsync, os.replace."""
    target = os.path.abspath(path)
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp", dir=directory)
    try:
        # errors="replace": a lone surrogate (undecodable bytes from user output) must not lose the report.
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


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; not possible everywhere (e.g. Windows), and not worth failing for.
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
