"""Report files on a full disk or on a stream: the check goes on, and the verdict says what was not
written.

A disk that fills up while the reports are rewritten after every model must not end the run: every
model is checked, the failure is said once when it happens and again at the end beside the verdict,
and the run exits
2. A report path that is a stream (`-`, a link like /dev/stdout) is written once, in place, at the
   end.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import assert_no_traceback, run_cli

GOOD = """
import lasagne
from lasagne.layers import DenseLayer, InputLayer


def build():
    return DenseLayer(InputLayer((None, 3)), 2, nonlinearity=lasagne.nonlinearities.softmax)
"""


def make_repo(root: Path, names: list[str]) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "models" / "good.py").write_text(textwrap.dedent(GOOD))
    entries = "".join(f"  - name: {name}\n    factory: models/good.py:build\n" for name in names)
    header = "version: 1\ndefaults:\n  data: {sequences: 4, features: 3}\nmodels:\n"
    (root / "gradcheck.yml").write_text(header + entries)
    return root


@contextlib.contextmanager
def full_disk(where: Path) -> Iterator[Path]:
    """A real full file system: a 64 KiB tmpfs mounted at `where`, filled to the last block (root
    only)."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root (and a container that allows it)")
    try:
        fd = os.open(where / "filler", os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):  # ENOSPC: full
            while True:
                os.write(fd, b"\0" * 4096)
        os.close(fd)
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_a_full_disk_loses_the_report_not_the_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", ["first", "second"])
    with full_disk(tmp_path / "full") as full:
        report = full / "report.json"
        run = run_cli("check", "--json", str(report), "--junit", "junit.xml", cwd=repo, timeout=900)
        assert not report.exists()
    assert run.code == 2, run.output
    assert_no_traceback(run)
    # the run went on after the first failure
    assert "PASS first" in run.stdout and "PASS second" in run.stdout
    said = f"cannot write the report --json {report}: No space left on device"
    # once, not after every model
    assert run.stdout.count(said + "; the check goes on") == 1, run.stdout
    assert run.stdout.splitlines()[-2:] == [
        f"  report not written: --json {report}: No space left on device",
        "result: ERROR (exit 2)",
    ], run.stdout
    assert f"gradcheck-ci: error: {said}" in run.stderr
    # the report on a disk with room: complete
    cases = ET.parse(repo / "junit.xml").getroot().iter("testcase")
    assert sorted(case.get("name") for case in cases) == ["first", "second"]


def test_reports_to_standard_output_are_written_once_at_the_end_and_links_stay_links(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", ["first", "second"])
    link = repo / "stdout"  # the shape of /dev/stdout, without touching the machine's own
    link.symlink_to("/proc/self/fd/1")
    run = run_cli("check", "--json", "-", "--sarif", "stdout", cwd=repo, timeout=900)
    assert run.code == 0, run.output
    # standard output holds the reports alone (the run's text went to standard error)
    decoder = json.JSONDecoder()
    written, end = decoder.raw_decode(run.stdout)
    rest = run.stdout[end:].lstrip()
    sarif, end = decoder.raw_decode(rest)
    assert rest[end:].strip() == ""
    # once, whole: not once per model
    assert [m["name"] for m in written["models"]] == ["first", "second"]
    assert sarif["version"] == "2.1.0"
    assert "wrote -\nwrote stdout\n" in run.stderr and run.stdout.count('"schema"') == 1
    assert "PASS first" in run.stderr
    assert link.is_symlink() and sorted(os.listdir(repo)) == ["gradcheck.yml", "models", "stdout"]
