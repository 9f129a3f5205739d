"""Evaluations shared with a forked child (gradcheck_ci/engine/forked.py): the same values in the
same order, a failed child's half evaluated here, and a whole check (directional and full mode, the
diagnosis' ablation and profile) that says exactly the same with sharing forced on as with it
off."""

import os

import pytest

from gradcheck_ci.engine import forked
from tests import FIXTURES, REPO
from tests.harness import run_cli

two_cpus = pytest.mark.skipif(forked.cpus() < 2, reason="sharing needs a second CPU")


@two_cpus
def test_the_second_half_is_evaluated_in_a_child_and_comes_back_in_order():
    parent = os.getpid()
    values = forked.split(lambda i: float(i * 1000 + (os.getpid() != parent)), list(range(5)), 1.0)
    # 5 items: the first 3 here (x000), the last 2 in the child (x001), in the order asked for
    assert values == [0.0, 1000.0, 2000.0, 3001.0, 4001.0]


@two_cpus
def test_a_child_that_fails_costs_only_time():
    parent = os.getpid()

    def fn(i):
        if os.getpid() != parent:
            raise RuntimeError("the child's evaluation broke")
        return float(i)

    assert forked.split(fn, [1, 2, 3, 4], 1.0) == [1.0, 2.0, 3.0, 4.0]


@two_cpus
def test_no_child_for_cheap_calls_nor_while_a_cpu_is_held():
    parent = os.getpid()

    def where(_):
        return float(os.getpid() != parent)

    assert forked.split(where, [0, 1], forked.WORTH_SECONDS / 10) == [0.0, 0.0]
    loan = forked.hold()
    try:
        assert forked.split(where, [0, 1], 1.0) == [0.0, 0.0]
    finally:
        forked.release(loan)
    assert forked.split(where, [0, 1], 1.0) == [0.0, 1.0]


@two_cpus
def test_a_child_holding_the_second_cpu_splits_once_its_parent_lends_it_back():
    loan = forked.hold()
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            forked.mark_child(loan)
            me = os.getpid()
            before = forked.split(lambda _: float(os.getpid() != me), [0, 1], 1.0)
            os.write(from_child_w, b"1")
            os.read(to_child_r, 1)  # until the parent has lent its CPU
            after = forked.split(lambda _: float(os.getpid() != me), [0, 1], 1.0)
            os.write(from_child_w, b"ok" if (before, after) == ([0.0, 0.0], [0.0, 1.0]) else b"no")
            code = 0
        finally:
            os._exit(code)
    try:
        assert os.read(from_child_r, 1) == b"1"
        forked.lend(loan)
        os.write(to_child_w, b"1")
        assert os.read(from_child_r, 2) == b"ok"
        assert os.waitpid(pid, 0)[1] == 0
    finally:
        forked.release(loan)
        for fd in (to_child_r, to_child_w, from_child_r, from_child_w):
            os.close(fd)


def comparable(report):
    """The report without what depends on the clock or on which process evaluated."""

    def strip(value):
        if isinstance(value, dict):
            return {
                k: strip(v)
                for k, v in value.items()
                if k
                not in {"seconds", "ablation_seconds", "compile", "diagnosis_compile", "duration"}
            }
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return [strip(m) for m in report["models"]]


@pytest.mark.slow
@two_cpus
@pytest.mark.parametrize(
    "config, models",
    [
        (
            REPO / "examples" / "seed-rnn" / "gradcheck.yml",
            ["seed-rnn-truncated", "seed-rnn-full-bptt"],
        ),
        (FIXTURES / "engine" / "gradcheck.yml", ["wide-full", "dense-float32"]),
    ],
    ids=["reported-network", "full-and-float32"],
)
def test_a_check_says_the_same_with_and_without_sharing(tmp_path, config, models):
    """Each run is a first run (a cache directory of its own: no record of an earlier run to replay,
    engine/remembered.py), Theano's compiled modules the usual ones."""
    from gradcheck_ci.platform import cachedir

    environ = {k: v for k, v in os.environ.items() if k != cachedir.CACHE_DIR_ENV}
    flags = f"base_compiledir={cachedir.theano_cache_dir(environ)}"
    theano_flags = ",".join(filter(None, [os.environ.get("THEANO_FLAGS"), flags]))
    reports = {}
    for setting in ("never", "always"):
        args = ["check", "--config", str(config), "--cache-dir", str(tmp_path / setting)]
        for name in models:
            args += ["--model", name]
        run = run_cli(
            *args,
            env={"GRADCHECK_CI_FORK_EVALUATIONS": setting, "THEANO_FLAGS": theano_flags},
            json_path=tmp_path / f"{setting}.json",
        )
        assert run.report is not None, run.output
        reports[setting] = run.report
    assert comparable(reports["always"]) == comparable(reports["never"])
    assert all(m["evaluations"] > 0 for m in reports["always"]["models"])
