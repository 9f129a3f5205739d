"""tests/unit is the quick slice: pure Python, never Theano or Lasagne, never another process.

The guard below makes that a rule rather than a hope. During every unit test, importing theano or
lasagne and starting a process (subprocess, multiprocessing, fork, spawn, os.system) raise; and
because the code under test may catch that error, the test fails anyway, naming what it tried. A
test that needs either belongs in tests/integration. Modules already imported by other slices of the
same run are hidden for the test and put back after it, so the guard holds whatever ran before.
"""

from __future__ import annotations

import _posixsubprocess
import importlib.abc
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

HEAVY = ("theano", "lasagne")
PROCESS_STARTERS = ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system")
TRIED = pytest.StashKey[list[str]]()  # what the test tried that a unit test may not
REPORTED = pytest.StashKey[int]()  # how many of those its call phase already reported


class NotInUnitTests(ImportError):
    """What a unit test gets for importing Theano or Lasagne, or for starting a process."""


def fail_for(tried: list[str]) -> None:
    pytest.fail(
        "a unit test must not " + ", ".join(dict.fromkeys(tried)) + "; it belongs in "
        "tests/integration",
        pytrace=False,
    )


class RefuseHeavyImports(importlib.abc.MetaPathFinder):
    def __init__(self, tried: list[str]) -> None:
        self.tried = tried

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in HEAVY:
            self.tried.append(f"import {name}")
            raise NotInUnitTests(
                f"tests/unit may not import {name}; move the test to tests/integration"
            )


def is_heavy(module: str) -> bool:
    return module.partition(".")[0] in HEAVY


@pytest.fixture(autouse=True)
def no_theano_and_no_subprocess(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    tried: list[str] = []
    request.node.stash[TRIED] = tried

    def refuse(what: str):
        def refused(*args: object, **kwargs: object) -> None:
            tried.append(what)
            raise NotInUnitTests(
                f"tests/unit may not start a process ({what}); move the test to tests/integration"
            )

        return refused

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse("subprocess"))
    monkeypatch.setattr(_posixsubprocess, "fork_exec", refuse("fork_exec"))
    for name in PROCESS_STARTERS:
        if hasattr(os, name):
            monkeypatch.setattr(os, name, refuse(f"os.{name}"))

    hidden = {name: module for name, module in sys.modules.items() if is_heavy(name)}
    for name in hidden:
        del sys.modules[name]
    finder = RefuseHeavyImports(tried)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in [name for name in sys.modules if is_heavy(name)]:
            del sys.modules[name]  # what the test registered itself (compat's import shims)
        sys.modules.update(hidden)
    unreported = tried[request.node.stash.get(REPORTED, 0) :]
    if unreported:  # tried outside the test function itself (in a fixture)
        fail_for(unreported)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test that caught the guard's error and went on still fails: once, as the test's own
    failure."""
    tried = item.stash.get(TRIED, [])
    try:
        result = yield
    finally:
        item.stash[REPORTED] = len(tried)
    if tried:
        fail_for(tried)
    return result


def pytest_collection_finish(session: pytest.Session) -> None:
    """When only unit tests were collected, importing their modules must not have imported Theano
    either."""
    unit = os.path.dirname(__file__)
    only_unit = session.items and all(
        str(item.path).startswith(unit + os.sep) for item in session.items
    )
    loaded = sorted(name for name in sys.modules if name in HEAVY)
    if only_unit and loaded:
        raise pytest.UsageError(
            f"collecting tests/unit imported {', '.join(loaded)}: a unit test "
            f"module (or what "
            "it imports at the top) pulls in the numerical stack"
        )
