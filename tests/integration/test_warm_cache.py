"""The release image's warm-up (ci/warm_cache.py), proven without building an image: the container
tests' image warms only the families its repositories use (TEST_FAMILIES), so these tests keep the
rest of what a release warms honest. Every family's network builds on its stack (a family that no
longer builds would stop a release's image build), and the script checks a family end to end and
says it found no problem."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from gradcheck_ci.platform import lasagne_stacks
from tests import REPO
from tests.master_stack import require_master

WARM = REPO / "ci" / "warm_cache.py"
# Build every family's network of one stack and its deterministic output expression (no compile).
BUILD_ALL = textwrap.dedent("""
    import json, sys
    from gradcheck_ci.platform import compat
    compat.prepare("float64")
    import lasagne
    sys.path[:0] = [sys.argv[1], sys.argv[1] + "/warm"]
    import warm_cache
    families = [("stock", f) for f in warm_cache.FAMILIES]
    if sys.argv[2] == "master":
        families += [("stock_master", f) for f in warm_cache.MASTER_FAMILIES]
    problems, built = [], 0
    for module, (name, kwargs, _, _) in families:
        try:
            net = __import__(module).build(**kwargs)
            lasagne.layers.get_output(net, deterministic=True)
            built += 1
        except Exception as exc:
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
    print(json.dumps({"built": built, "of": len(families), "problems": problems,
                      "lasagne": lasagne.__version__}))
""")


def build_all(stack: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if stack == "master":
        env["PYTHONPATH"] = os.pathsep.join([lasagne_stacks.master_dir(), str(REPO)])
    out = subprocess.run(
        [sys.executable, "-c", BUILD_ALL, str(REPO / "ci"), stack],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_every_lasagne_0_1_family_of_the_release_warm_up_builds():
    result = build_all("0.1")
    assert result["lasagne"].startswith("0.1") and result["problems"] == [], result
    assert result["built"] == result["of"] > 60, result


def test_every_lasagne_master_family_of_the_release_warm_up_builds():
    require_master()
    result = build_all("master")
    assert result["lasagne"].startswith("0.2") and result["problems"] == [], result
    assert result["built"] == result["of"] > 90, result


@pytest.mark.slow
def test_the_warm_up_checks_a_family_as_a_users_run_would(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(WARM),
            "--only",
            "mlp-rectify",
            "--precision",
            "float64",
            "--lasagne",
            "0.1",
            "--no-examples",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "/gradcheck-0.1.yml exited 0" in out.stdout and "PASS mlp-rectify-float64" in out.stdout
    assert "warm-up: 0 problem(s), 0 other verdict(s) than expected" in out.stdout, out.stdout
