"""Tests that need Lasagne master (the second stack, gradcheck_ci/platform/lasagne_stacks.py) find
it where `make` put it (`make lasagne-master`, which the test targets run: from ../shared/wheels
when the wheel is there, else from the commit's archive). Without it they skip and say why;
GRADCHECK_REQUIRE_MASTER=1 (.ci/run) makes that a failure."""

from __future__ import annotations

import os

import pytest


def require_master() -> None:
    from gradcheck_ci.platform import lasagne_stacks

    problem = lasagne_stacks.master_problem()
    if problem is None:
        return
    reason = f"{problem} (the tests that check models on Lasagne master need it)"
    if os.environ.get("GRADCHECK_REQUIRE_MASTER") == "1":
        pytest.fail(f"{reason}; GRADCHECK_REQUIRE_MASTER=1", pytrace=False)
    pytest.skip(reason)
