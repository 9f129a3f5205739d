"""Isolation: one broken model never sinks the run, and a stopped run always leaves valid reports.

Each model runs in a worker process of its own: a segfault, a hang past `timeout` or a memory
blow-up is that model's error while the others complete. A SIGTERM (a cancelled CI job) stops the
running worker and the reports list what finished and mark the rest cancelled; the reports are
rewritten atomically after every model, so even a SIGKILL leaves valid files behind.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import textwrap
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.harness import REPORT_ARGS, assert_no_traceback, assert_reports_valid, run_cli, start_cli

GOOD = """
import lasagne
from lasagne.layers import DenseLayer, InputLayer


def build():
    return DenseLayer(InputLayer((None, 3)), 2, nonlinearity=lasagne.nonlinearities.softmax)
"""
BROKEN = """
import ctypes
import time

from lasagne.layers import DenseLayer, InputLayer


def crash():
    ctypes.string_at(0)


def hang():
    time.sleep(600)


def raises():
    raise RuntimeError("broken on purpose")
"""


def make_repo(root: Path, models: str) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "models" / "good.py").write_text(textwrap.dedent(GOOD))
    (root / "models" / "broken.py").write_text(textwrap.dedent(BROKEN))
    (root / "gradcheck.yml").write_text(
        "version: 1\ndefaults:\n  data: {sequences: 4, features: "
        "3}\nmodels:\n" + textwrap.dedent(models).lstrip("\n")
    )
    return root


@contextmanager
def running_cli(repo: Path) -> Iterator[tuple[subprocess.Popen, list[str]]]:
    """`check` with every report started in `repo`, with the stdout lines read so far; killed with
    its workers on exit."""
    proc = start_cli("check", *REPORT_ARGS, cwd=repo)
    try:
        yield proc, []
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_leftovers(repo)


def read_until(proc: subprocess.Popen, marker: str, seen: list[str], limit: float = 900) -> None:
    """Read the CLI's stdout line by line until a line contains `marker`. A CLI that has not printed
    it after `limit` seconds is killed, which ends the read (a guard against a hang, like
    subprocess.run's timeout)."""
    assert proc.stdout is not None
    guard = threading.Timer(limit, proc.kill)
    guard.start()
    try:
        for line in proc.stdout:
            seen.append(line)
            if marker in line:
                return
    finally:
        guard.cancel()
    raise AssertionError(
        f"the CLI ended (or was stopped after {limit} s) before printing "
        f"{marker!r}:\n" + "".join(seen)
    )


def workers_in(repo: Path) -> list[int]:
    """Worker processes whose working directory is this repository (the runner starts them
    there)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if b"gradcheck_ci.process.worker" in cmdline and cwd == str(repo):
            pids.append(int(entry.name))
    return pids


def still_running(pids: list[int], limit: float = 30) -> list[int]:
    """The processes of `pids` that have not ended within `limit` seconds. Waits on pidfds, which
    become readable when their process ends, so it returns as soon as the last one has (`limit` only
    bounds a hang)."""
    fds = {}
    for pid in pids:
        try:
            fds[os.pidfd_open(pid)] = pid
        except ProcessLookupError:
            pass  # already gone
    try:
        pending = set(fds)
        while pending:
            ready, _, _ = select.select(list(pending), [], [], limit)
            if not ready:
                break
            pending -= set(ready)
        return sorted(fds[fd] for fd in pending)
    finally:
        for fd in fds:
            os.close(fd)


def kill_leftovers(repo: Path) -> None:
    for pid in workers_in(repo):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def by_name(report: dict) -> dict[str, dict]:
    return {m["name"]: m for m in report["models"]}


@pytest.mark.slow
def test_crash_and_hang_are_their_models_errors_and_the_good_model_passes(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        """
        - name: crash
          factory: models/broken.py:crash
        - name: hang
          factory: models/broken.py:hang
          timeout: 3
        - name: good
          factory: models/good.py:build
        """,
    )
    run = run_cli("check", *REPORT_ARGS, cwd=repo)
    assert run.code == 2, run.output
    assert_no_traceback(run)
    report = assert_reports_valid(repo)
    models = by_name(report)
    assert models["good"]["status"] == "pass" and models["good"]["params"]
    assert models["crash"]["status"] == "error"
    assert models["crash"]["error"]["kind"] == "crash"
    assert "segmentation fault (SIGSEGV)" in models["crash"]["error"]["message"]
    assert (models["crash"]["error"]["file"], models["crash"]["error"]["line"]) == (
        "models/broken.py",
        9,
    )
    assert models["hang"]["status"] == "error"
    assert models["hang"]["error"]["kind"] == "timeout"
    assert "timed out after 3 s" in models["hang"]["error"]["message"]
    assert (models["hang"]["error"]["file"], models["hang"]["error"]["line"]) == (
        "gradcheck.yml",
        9,
    )
    # every format carries all three models
    junit = ET.parse(repo / "junit.xml").getroot()
    assert len(junit.findall(".//testcase")) == 3
    sarif = json.loads((repo / "report.sarif").read_text())
    messages = " ".join(r["message"]["text"] for r in sarif["runs"][0]["results"])
    assert "segmentation fault" in messages and "timed out" in messages
    assert not workers_in(repo)


def test_sigterm_during_the_first_model_cancels_everything_and_writes_reports(
    tmp_path: Path,
) -> None:
    repo = make_repo(
        tmp_path / "repo",
        """
        - name: sleeper
          factory: models/broken.py:hang
        - name: good
          factory: models/good.py:build
        """,
    )
    with running_cli(repo) as (proc, seen):
        read_until(proc, "[sleeper]", seen)
        read_until(proc, "importing theano", seen)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    output = "".join(seen) + out + err
    assert proc.returncode == 2, output
    assert "Traceback" not in output
    report = assert_reports_valid(repo)
    models = by_name(report)
    assert report["status"] == "error"
    assert models["sleeper"]["status"] == "cancelled"
    # the worker was importing, or already calling the factory, when the signal came
    assert re.match(
        r"cancelled while (importing theano|importing the model's module|calling the "
        r"factory)",
        models["sleeper"]["error"]["message"],
    ), models["sleeper"]["error"]
    assert models["good"]["status"] == "cancelled"
    assert "not run: the check was cancelled" in models["good"]["error"]["message"]
    assert "2 cancelled" in output
    assert not workers_in(repo), "SIGTERM must stop the running worker"


@pytest.mark.slow
def test_sigterm_keeps_the_finished_models_and_the_report_is_valid_json_at_all_times(
    tmp_path: Path,
) -> None:
    repo = make_repo(
        tmp_path / "repo",
        """
        - name: good
          factory: models/good.py:build
        - name: sleeper
          factory: models/broken.py:hang
        - name: never-reached
          factory: models/good.py:build
        """,
    )
    report_path = repo / "report.json"
    reads: list[str] = []
    stop = threading.Event()

    def watch() -> None:  # a reader that never sees half a file
        while not stop.is_set():
            try:
                text = report_path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            json.loads(text)
            if not reads or reads[-1] != text:
                reads.append(text)

    # An exception in a plain thread is only a warning; a future hands it to the test
    # (watcher.result below).
    pool = ThreadPoolExecutor(max_workers=1)
    watcher = pool.submit(watch)
    try:
        with running_cli(repo) as (proc, seen):
            read_until(proc, "PASS good", seen)
            read_until(proc, "[sleeper]", seen)
            # after each model the report already lists it, and the models not yet checked as
            # cancelled
            interim = by_name(json.loads(report_path.read_text(encoding="utf-8")))
            assert interim["good"]["status"] == "pass"
            assert interim["sleeper"]["status"] == interim["never-reached"]["status"] == "cancelled"
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=120)
    finally:
        stop.set()
        pool.shutdown(wait=False)
    # raises here what the watcher raised: a half-written report fails the test
    watcher.result(timeout=10)
    output = "".join(seen) + out + err
    assert proc.returncode == 2, output
    assert "Traceback" not in output
    report = assert_reports_valid(repo)
    models = by_name(report)
    assert models["good"]["status"] == "pass" and models["good"]["params"]
    assert models["sleeper"]["status"] == "cancelled"
    assert models["never-reached"]["status"] == "cancelled"
    assert [m["name"] for m in report["models"]] == ["good", "sleeper", "never-reached"]
    assert len(reads) >= 2  # the interim report, then the final one: each one complete
    junit = ET.parse(repo / "junit.xml").getroot()
    assert len(junit.findall(".//testcase")) == 3


def test_sigkill_leaves_valid_reports_and_no_orphan_worker(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        """
        - name: raises
          factory: models/broken.py:raises
        - name: sleeper
          factory: models/broken.py:hang
        - name: good
          factory: models/good.py:build
        """,
    )
    with running_cli(repo) as (proc, seen):
        read_until(proc, "ERROR raises", seen)
        read_until(proc, "[sleeper]", seen)
        read_until(proc, "importing theano", seen)  # the sleeper's worker reports its first stage
        workers = workers_in(repo)
        assert workers, "the sleeper's worker should be running"
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert not still_running(workers), "a worker must not outlive a killed CLI"
        assert not workers_in(repo), "a worker must not outlive a killed CLI"
    report = assert_reports_valid(repo)
    models = by_name(report)
    assert report["status"] == "error"
    assert models["raises"]["status"] == "error"
    assert "RuntimeError: broken on purpose" in models["raises"]["error"]["message"]
    assert models["sleeper"]["status"] == models["good"]["status"] == "cancelled"
    assert "the run ended before this model" in models["good"]["error"]["message"]
