"""Atomic writes: whole file or the old file, never half a file or a stray temporary."""
from __future__ import annotations

import os
import stat

import pytest

from gradcheck_ci.report import atomic
from gradcheck_ci.report.atomic import write_atomic


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
