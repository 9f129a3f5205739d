"""What a model or the machine does to a worker is said as it happened, and leaves nothing behind.

Processes a model's code starts end with its worker, whatever shape they take (in the worker's
process group, in a session of their own, double-forked away), also when the worker is stopped at
its timeout. A worker killed from outside is reported as that, with its memory at the time and its
limit, not as out of memory. The smallest `memory` that validate accepts starts a worker. Each test
ends only the processes its own run started, by the PIDs they wrote down.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from pathlib import Path

import pytest

from tests.harness import run_cli, start_cli
from tests.integration.test_isolation import still_running, workers_in

# Each factory starts a `sleep` in one shape and writes its PID down; then it builds the network as
# usual.
SPAWNERS = """
import os
import subprocess
import time

import lasagne
from lasagne.layers import DenseLayer, InputLayer

SLEEPER = ["sh", "-c", 'echo $$ > "$0"; exec sleep 613']  # $0: where to write the PID


def network():
    return DenseLayer(InputLayer((None, 3)), 2, nonlinearity=lasagne.nonlinearities.softmax)


def wait_for(path):
    while not os.path.exists(path) or not open(path).read().strip():
        time.sleep(0.05)


def same_group(pidfile):
    subprocess.Popen(SLEEPER + [pidfile])
    wait_for(pidfile)
    return network()


def own_session(pidfile):
    subprocess.Popen(SLEEPER + [pidfile], start_new_session=True)
    wait_for(pidfile)
    return network()


def double_fork(pidfile):
    child = os.fork()
    if child == 0:  # the classic daemon: fork, setsid, fork again, the middle one exits
        os.setsid()
        if os.fork() == 0:
            os.execvp("sh", SLEEPER + [pidfile])
        os._exit(0)
    os.waitpid(child, 0)
    wait_for(pidfile)
    return network()


def own_session_then_hang(pidfile):
    subprocess.Popen(SLEEPER + [pidfile], start_new_session=True)
    wait_for(pidfile)
    time.sleep(600)


def announce_then_hang(marker):
    open(marker, "w").close()
    time.sleep(600)
"""


def make_repo(root: Path, models: str) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "models" / "spawners.py").write_text(textwrap.dedent(SPAWNERS))
    (root / "gradcheck.yml").write_text(
        "version: 1\ndefaults:\n  data: {sequences: 4, features: "
        "3}\nmodels:\n" + textwrap.dedent(models).lstrip("\n")
    )
    return root


def sleeper_pids(folder: Path) -> dict[str, int]:
    return {
        path.stem: int(path.read_text())
        for path in folder.glob("*.pid")
        if path.read_text().strip()
    }


def end_sleepers(pids: dict[str, int]) -> None:
    """Kill what a failed test left running: only our own `sleep 613`s, checked by their command
    line."""
    for pid in pids.values():
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x00613\x00":
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc for the processes left")
def test_what_a_model_starts_ends_with_its_worker_in_every_shape(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    shapes = ["same_group", "own_session", "double_fork", "own_session_then_hang"]
    entries = "".join(
        f"""
      - name: {shape}
        factory: models/spawners.py:{shape}
        kwargs: {{pidfile: {pids / (shape + ".pid")}}}
        timeout: {60 if shape != "own_session_then_hang" else 8}
    """
        for shape in shapes
    )
    repo = make_repo(tmp_path / "repo", entries)
    try:
        run = run_cli("check", "--json", "report.json", cwd=repo, timeout=900)
        started = sleeper_pids(pids)
        assert sorted(started) == sorted(shapes), run.output
        statuses = {m["name"]: m["status"] for m in run.json()["models"]}
        assert statuses == {
            "same_group": "pass",
            "own_session": "pass",
            "double_fork": "pass",
            "own_session_then_hang": "error",
        }, run.output
        # ended with their workers, not later
        assert still_running(list(started.values()), limit=10) == []
    finally:
        end_sleepers(sleeper_pids(pids))


def test_a_worker_killed_from_outside_is_not_called_out_of_memory(tmp_path: Path) -> None:
    marker = tmp_path / "factory-started"
    repo = make_repo(
        tmp_path / "repo",
        f"""
      - name: net
        factory: models/spawners.py:announce_then_hang
        kwargs: {{marker: {marker}}}
        memory: 4096
    """,
    )
    proc = start_cli("check", "--json", "report.json", cwd=repo)
    try:
        deadline = time.monotonic() + 600
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        [worker] = workers_in(repo)  # started by this test's CLI, in this test's repository
        time.sleep(0.6)  # a sample of its memory is taken every 0.25 s
        os.kill(worker, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, stdout + stderr
    [model] = json.loads((repo / "report.json").read_text())["models"]
    message = model["error"]["message"]
    # the entry, not `memory:`
    assert model["error"]["kind"] == "killed" and model["error"]["line"] == 5, model
    assert message.startswith(
        "the worker was killed by SIGKILL from outside gradcheck-ci while calling the factory"
    ), message
    assert (
        "below its limit of 4096 MiB, the model's `memory`" in message
        and "out of memory" not in message
    )
    assert "MiB available" in message


def test_the_smallest_memory_validate_accepts_checks_a_model(tmp_path: Path) -> None:
    from gradcheck_ci.config import MIN_MEMORY

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.py").write_text(
        textwrap.dedent("""
        import lasagne
        from lasagne.layers import DenseLayer, InputLayer


        def build():
            return DenseLayer(InputLayer((None, 3)), 2, nonlinearity=lasagne.nonlinearities.softmax)
    """)
    )
    (tmp_path / "gradcheck.yml").write_text(
        f"version: 1\nmodels:\n  - name: net\n    factory: "
        f"models/net.py:build\n    memory: {MIN_MEMORY}\n    "
        f"data: {{sequences: 4, features: 3}}\n"
    )
    assert run_cli("validate", cwd=tmp_path).code == 0
    below = (
        (tmp_path / "gradcheck.yml")
        .read_text()
        .replace(f"memory: {MIN_MEMORY}", f"memory: {MIN_MEMORY - 1}")
    )
    (tmp_path / "below.yml").write_text(below)
    assert run_cli("validate", "--config", "below.yml", cwd=tmp_path).code == 2
    run = run_cli("check", cwd=tmp_path, timeout=900)
    assert run.code == 0 and "PASS net" in run.output, run.output
