"""What the model's code gets of the environment: by default everything but secret-like variables,
the runner's ACTIONS_* tokens and its command files; with an allow-list, only what Python and Theano
need and the names given."""

from __future__ import annotations

import os

import pytest

from gradcheck_ci.commands import cli, run
from gradcheck_ci.process.environment import PASS_ENV, worker_environment

STEP = {  # what a `run:` step or a container action can hold
    "PATH": "/usr/bin",
    "HOME": "/github/home",
    "LANG": "C.UTF-8",
    "THEANO_FLAGS": "floatX=float64",
    "GITHUB_WORKSPACE": "/github/workspace",
    "GITHUB_SHA": "0" * 40,
    "GITHUB_ACTIONS": "true",
    "GITHUB_TOKEN": "ghs_x",
    "GH_TOKEN": "ghs_y",
    "NPM_TOKEN": "n",
    "AWS_SECRET_ACCESS_KEY": "k",
    "DOCKER_PASSWORD": "p",
    "PYPI_API_TOKEN": "t",
    "ACTIONS_RUNTIME_TOKEN": "r",
    "ACTIONS_CACHE_URL": "https://c",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://o",
    "GITHUB_ENV": "/runner/env",
    "GITHUB_PATH": "/runner/path",
    "GITHUB_OUTPUT": "/runner/out",
    "GITHUB_STEP_SUMMARY": "/runner/sum",
    "MY_DATA_DIR": "/data",
    "TOKENIZER": "bpe",
    "GRADCHECK_CI_CACHE_DIR": "/cache",
}


def test_by_default_secrets_runner_tokens_and_command_files_are_dropped():
    given = worker_environment(STEP)
    assert sorted(set(STEP) - set(given)) == sorted(
        [
            "GITHUB_TOKEN",
            "GH_TOKEN",
            "NPM_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "DOCKER_PASSWORD",
            "PYPI_API_TOKEN",
            "ACTIONS_RUNTIME_TOKEN",
            "ACTIONS_CACHE_URL",
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "GITHUB_ENV",
            "GITHUB_PATH",
            "GITHUB_OUTPUT",
            "GITHUB_STEP_SUMMARY",
        ]
    )
    assert (
        given["TOKENIZER"] == "bpe" and given["MY_DATA_DIR"] == "/data"
    )  # a word of the name, not a part


def test_an_allow_list_gives_the_base_and_the_names_only():
    given = worker_environment(dict(STEP, **{PASS_ENV: "MY_*,GH_TOKEN"}))
    assert sorted(given) == sorted(
        [
            "PATH",
            "HOME",
            "LANG",
            "THEANO_FLAGS",
            "GRADCHECK_CI_CACHE_DIR",
            PASS_ENV,
            "MY_DATA_DIR",
            "GH_TOKEN",
        ]
    )  # a secret passes when it is named
    assert sorted(worker_environment(dict(STEP, **{PASS_ENV: ""}))) == sorted(
        ["PATH", "HOME", "LANG", "THEANO_FLAGS", "GRADCHECK_CI_CACHE_DIR", PASS_ENV]
    )


def test_check_pass_env_sets_the_allow_list_the_workers_read(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(
        run, "check", lambda args, shard, console: seen.setdefault("list", os.environ[PASS_ENV])
    )
    monkeypatch.setenv(PASS_ENV, "")  # so that monkeypatch restores what the CLI sets
    monkeypatch.chdir(tmp_path)
    cli.main(["check", "--pass-env", "MY_DATA_DIR", "--pass-env", "WANDB_*"])
    assert seen["list"] == "MY_DATA_DIR,WANDB_*"


@pytest.mark.parametrize("name", ["A=B", "$HOME", "a b"])
def test_pass_env_takes_names_only(tmp_path, capsys, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "--pass-env", name]) == 2
    assert "give an environment variable's name" in capsys.readouterr().err


def test_a_child_gets_no_pythonpath_entry_naming_the_repository(tmp_path):
    from gradcheck_ci.core.installation import child_environment, package_parent

    (tmp_path / "lib").mkdir()
    env = {
        "PYTHONPATH": os.pathsep.join([".", str(tmp_path), "lib", ""]),
        "PYTHONWARNINGS": "error",
    }
    child = child_environment(env, str(tmp_path))
    # '.' and the root itself go (-P keeps the repository off the path while the child imports);
    # another folder of the repository stays, after the package's own parent
    assert child["PYTHONPATH"].split(os.pathsep) == [package_parent(), "lib"]
    assert "PYTHONWARNINGS" not in child
