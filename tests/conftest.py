"""Every test sits in the slice that says what it needs (tests/__init__.py), and the markers agree
with it.

`-m "not slow and not docker"` and the folders are two ways to slice the suite; this keeps them
honest: a test file outside the three folders, a `slow` or `docker` test in tests/unit, a `docker`
test outside tests/container or a container test without the marker stops the run before anything
runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

TESTS = Path(__file__).resolve().parent
SLICES = ("unit", "integration", "container")

# No wall-clock assertions in the tests, and Hypothesis' default per-example deadline (200 ms) is
# one: on a loaded machine it fails correct code. Tests still bound their work by counting it
# (max_examples, calls).
settings.register_profile("gradcheck-ci", deadline=None)
settings.load_profile("gradcheck-ci")


def misplaced(item: pytest.Item) -> str | None:
    parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
    where = parts[0] if len(parts) > 1 else ""
    marks = {mark.name for mark in item.iter_markers()}
    if where not in SLICES:
        return (
            f"{item.nodeid}: test files belong in tests/unit, tests/integration or tests/container"
        )
    if where == "unit" and marks & {"slow", "docker"}:
        return (
            f"{item.nodeid}: a unit test cannot be slow or need Docker; move it to "
            f"tests/integration"
        )
    if ("docker" in marks) != (where == "container"):
        return (
            f"{item.nodeid}: tests that need a Docker engine live in tests/container, all "
            f"marked `docker`"
        )
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    problems = [problem for problem in map(misplaced, items) if problem]
    if problems:
        raise pytest.UsageError("tests in the wrong slice:\n  " + "\n  ".join(problems))
