"""Atomic writes: whole file or the old file, never half a file or a stray temporary."""

from __future__ import annotations

import errno
import os
import stat
import threading

import pytest

from gradcheck_ci.report import atomic
from gradcheck_ci.report.atomic import is_stream, write_atomic


def test_creates_parents_and_writes_utf8(tmp_path):
    path = tmp_path / "a" / "b" / "out.txt"
    write_atomic(str(path), "é\r\n漢\n")
    assert path.read_bytes() == "é\r\n漢\n".encode()  # no newline translation
    assert os.listdir(path.parent) == ["out.txt"]


def test_replaces_existing_file(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    write_atomic(str(path), "new")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["out.txt"]


def test_mode_follows_umask_not_mkstemp(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(str(tmp_path / "out.txt"), "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "out.txt").st_mode) == 0o644


def test_failure_keeps_old_file_and_removes_temporary(tmp_path, monkeypatch):
    path = tmp_path / "out.txt"
    path.write_text("old")

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken)
    with pytest.raises(OSError):
        write_atomic(str(path), "new")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


def test_relative_path_in_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_atomic("plain.txt", "x")
    assert (tmp_path / "plain.txt").read_text() == "x"


# --- paths that are not regular files: written in place, never renamed over
# ---------------------------------


def test_a_fifo_is_written_in_place_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_atomic(str(fifo), "{}\n")
    reader.join(timeout=30)
    assert received == [b"{}\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.listdir(tmp_path) == ["report.fifo"]


def test_a_character_device_stays_a_device(tmp_path):
    null = (
        tmp_path / "null"
    )  # a private node for /dev/null's device: the machine's own is never at stake
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, AttributeError):
        pytest.skip("making a device node needs root")
    write_atomic(str(null), "{}\n")
    assert stat.S_ISCHR(os.lstat(null).st_mode) and os.listdir(tmp_path) == ["null"]


def test_a_link_into_proc_appends_to_what_it_leads_to_and_stays_a_link(tmp_path):
    # /dev/stdout is such a link; behind it, a shell's `> out.txt` already holding the console's
    # lines.
    out = tmp_path / "out.txt"
    out.write_text("console line\n")
    with open(out, "a") as handle:
        link = tmp_path / "stdout"
        link.symlink_to(f"/proc/self/fd/{handle.fileno()}")
        assert is_stream(str(link))
        write_atomic(str(link), "{}\n")
    assert out.read_text() == "console line\n{}\n"
    assert link.is_symlink() and sorted(os.listdir(tmp_path)) == ["out.txt", "stdout"]


def test_dash_is_standard_output(tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_atomic("-", "{}\n")
    assert capfd.readouterr().out == "{}\n" and os.listdir(tmp_path) == []


def test_a_full_device_raises_no_space_left(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with pytest.raises(OSError) as raised:
        write_atomic("/dev/full", "{}\n")
    assert raised.value.errno == errno.ENOSPC


def test_regular_files_and_new_paths_are_not_streams(tmp_path):
    (tmp_path / "old.json").write_text("{}")
    assert not is_stream(str(tmp_path / "old.json")) and not is_stream(str(tmp_path / "new.json"))
    assert is_stream("-") and is_stream("/dev/null")
