"""The two Lasagne stacks (gradcheck_ci/platform/lasagne_stacks.py): where master is found, what a
worker's environment gets, the `lasagne:` key, what `auto` moves on, and how the reports name the
stack."""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from gradcheck_ci.config import load_config
from gradcheck_ci.core.installation import package_parent, with_package_on_path
from gradcheck_ci.core.results import ErrorInfo, RunReport
from gradcheck_ci.platform import lasagne_stacks
from gradcheck_ci.process.runner import moved_notice
from gradcheck_ci.report.html import render_html
from gradcheck_ci.report.jsonreport import render_json
from gradcheck_ci.report.summary import render_step_summary
from gradcheck_ci.report.text import render_model
from gradcheck_ci.usercode import legacy
from tests import REPO
from tests.samples import model


def master_tree(root, version: str | None = lasagne_stacks.MASTER_VERSION):
    (root / "lasagne").mkdir(parents=True)
    (root / "lasagne" / "__init__.py").write_text("")
    if version:
        (root / f"Lasagne-{version}.dist-info").mkdir()
    return root


# ------------------------------------------------------------------------ where master is


def test_master_is_found_where_the_environment_says(tmp_path):
    env = {lasagne_stacks.MASTER_ENV: str(master_tree(tmp_path / "master"))}
    assert lasagne_stacks.master_dir(env) == str(tmp_path / "master")
    assert lasagne_stacks.master_problem(env) is None


def test_without_master_the_problem_says_how_to_install_it(tmp_path):
    problem = lasagne_stacks.master_problem({lasagne_stacks.MASTER_ENV: str(tmp_path / "nothing")})
    assert problem is not None and problem.startswith(
        "Lasagne master is not installed where GRADCHECK_LASAGNE_MASTER says"
    )
    assert lasagne_stacks.MASTER_ARCHIVE in problem and "make lasagne-master" in problem
    assert str(tmp_path) not in problem  # no path of this machine in a message


def test_another_lasagne_in_masters_place_is_refused(tmp_path):
    env = {lasagne_stacks.MASTER_ENV: str(master_tree(tmp_path / "master", version="0.1"))}
    assert "is version 0.1, not 0.2.dev1" in lasagne_stacks.master_problem(env)


def test_the_default_place_is_inside_the_interpreters_environment():
    assert lasagne_stacks.master_dir({}).endswith(
        os.path.join("share", "gradcheck-ci", "lasagne-master")
    )


# ------------------------------------------------------------------------ a worker's environment


def test_a_master_worker_has_master_first_on_its_path_before_the_package(tmp_path):
    env = {
        lasagne_stacks.MASTER_ENV: str(tmp_path / "m"),
        "PYTHONPATH": os.pathsep.join(["/elsewhere", package_parent()]),
    }
    path = with_package_on_path(lasagne_stacks.worker_env(lasagne_stacks.MASTER, env))[
        "PYTHONPATH"
    ].split(os.pathsep)
    assert path == [str(tmp_path / "m"), package_parent(), "/elsewhere"]


def test_a_release_worker_loses_a_master_path_it_inherited(tmp_path):
    env = {lasagne_stacks.PATH_ENV: str(tmp_path / "m")}
    path = with_package_on_path(lasagne_stacks.worker_env(lasagne_stacks.RELEASE, env))[
        "PYTHONPATH"
    ].split(os.pathsep)
    assert path == [package_parent()] and lasagne_stacks.PATH_ENV not in env


# ------------------------------------------------------------------------ the key


def read(tmp_path, text):
    (tmp_path / "m.py").write_text("def build():\n    pass\n")
    (tmp_path / "gradcheck.yml").write_text(textwrap.dedent(text).lstrip("\n"))
    return load_config(str(tmp_path / "gradcheck.yml"))


def test_the_key_defaults_to_auto_and_reads_an_unquoted_release_number(tmp_path):
    config = read(
        tmp_path,
        """
        version: 1
        defaults: {lasagne: 0.1}
        models:
          - {name: a, factory: m.py:build}
          - {name: b, factory: m.py:build, lasagne: master}
          - {name: c, factory: m.py:build, lasagne: "0.1"}
        """,
    )
    assert [m.lasagne for m in config.models] == ["0.1", "master", "0.1"]
    assert (
        read(tmp_path, "version: 1\nmodels: [{name: a, factory: m.py:build}]\n").models[0].lasagne
        == "auto"
    )


@pytest.mark.parametrize(
    "value, message",
    [
        (
            "mastr",
            "lasagne must be one of 0.1, master, auto, got the string 'mastr' (did you mean "
            "'master'?)",
        ),
        ("0.2", "lasagne must be one of 0.1, master, auto, got 0.2 (a number)"),
    ],
)
def test_a_bad_stack_names_the_line_and_the_choices(tmp_path, value, message):
    config = read(
        tmp_path,
        f"""
        version: 1
        models:
          - name: a
            factory: m.py:build
            lasagne: {value}
        """,
    )
    assert [(p.line, p.message) for p in config.problems] == [(5, message)]


# ------------------------------------------------------------------------ what auto moves on


def test_the_api_only_master_has_is_named_in_a_few_words():
    missing = ImportError(
        "cannot import name 'batch_norm' from 'lasagne.layers' (site/lasagne/layers/__init__.py)",
        name="lasagne.layers",
    )
    assert legacy.master_api(missing) == "lasagne.layers.batch_norm"
    attribute = AttributeError("module 'lasagne.layers' has no attribute 'TransposedConv2DLayer'")
    assert legacy.master_api(attribute) == "lasagne.layers.TransposedConv2DLayer"
    assert legacy.master_api(ValueError("shapes (4,3) and (18,4) not aligned")) is None


def test_the_notice_says_which_stack_checked_the_model_and_points_where_0_1_failed():
    notice = moved_notice("lasagne.layers.batch_norm", ErrorInfo("...", "models/gan.py", 3, "load"))
    assert (notice.code, notice.file, notice.line) == ("lasagne-stack", "models/gan.py", 3)
    assert notice.message.startswith(
        "checked on Lasagne master (0.2.dev1 at commit 5d3c63cb315c), not Lasagne "
        "0.1: the code uses lasagne.layers.batch_norm, which Lasagne 0.1 does not have"
    )


# ------------------------------------------------------------------------ reports


def test_every_report_names_the_stack_a_model_ran_on():
    on_master, on_release, older = model("gan", "fail"), model("mlp", "pass"), model("old", "pass")
    on_master.lasagne, on_release.lasagne = "master", "0.1"
    report = RunReport("gradcheck.yml", [on_master, on_release, older])
    assert [m["lasagne"] for m in json.loads(render_json(report))["models"]] == [
        "master",
        "0.1",
        None,
    ]
    assert render_model(on_master).splitlines()[0].split()[:5] == [
        "FAIL",
        "gan",
        "float64",
        "full",
        "Lasagne",
    ]
    assert "Lasagne 0.1" in render_model(on_release).splitlines()[0]
    assert (
        "Lasagne" not in render_model(older).splitlines()[0]
    )  # a report from before the key: nothing claimed
    assert "full · Lasagne master · 80 evaluations" in render_step_summary(report)
    assert "full · Lasagne 0.1 · " in render_html(report, "0.1.0")


def test_the_install_script_and_the_dockerfile_pin_the_same_commit():
    for path in ("ci/install-lasagne-master.sh", "ci/wheels/README.md"):
        assert lasagne_stacks.MASTER_COMMIT in (REPO / path).read_text(), path
    assert "ci/install-lasagne-master.sh" in (REPO / "Dockerfile").read_text()
