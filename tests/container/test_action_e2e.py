"""The action image, run as the GitHub Actions runner runs it, against small user repositories.

Needs a Docker engine and the local base image (see conftest.py); `pytest -m docker` selects these.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.actions_log import effective_commands
from tests.harness import run_cli

from .conftest import FACTS
from .runner import FIXTURES, WORKSPACE, line_of, make_workspace, open_up, run_action

pytestmark = pytest.mark.docker

ESCAPED_PROPERTY = re.compile(r"^[^:,\r\n]*$")


def assert_properties_escaped(run) -> None:
    """Every annotation line the runner reads has its property values escaped (no raw ':' or
    ',')."""
    for command in run.commands:
        if command.name not in ("error", "warning", "notice"):
            continue
        head = command.raw.split("::", 2)[1]  # "error file=...,line=..."
        _, _, props = head.partition(" ")
        for item in filter(None, props.split(",")):
            key, _, value = item.partition("=")
            assert ESCAPED_PROPERTY.match(value), (
                f"unescaped property {key}={value!r} in {command.raw!r}"
            )


def test_passing_repo(docker_client, action_image, tmp_path):
    run = run_action(docker_client, action_image, tmp_path, "passing")
    FACTS.append(
        f"passing repo (RecurrentLayer 4x20 + MLP) as the runner runs it: first verdict "
        f"after {run.first_result or float('nan'):.1f}s, done in {run.seconds:.1f}s"
    )

    assert run.exit_code == 0, run.log
    key = run.outputs.pop("cache-key")
    assert run.outputs == {"status": "pass", "failed-models": "", "report": "gradcheck-report.json"}
    assert key.startswith("gradcheck-ci-py3.11-np1.23.5-th1.0.5-"), key
    # the cache directory: seeded from the image, never committed, readable by the runner's cache
    # step
    cache = run.workspace / ".gradcheck-ci-cache"
    assert (cache / ".gitignore").read_text().splitlines()[-1] == "*"
    unreadable = [
        p for p in cache.rglob("*") if not p.is_symlink() and p.stat().st_mode & 0o004 == 0
    ]
    assert not unreadable, unreadable[:5]


def test_the_cache_directory_belongs_to_the_workspace_owner(docker_client, action_image, tmp_path):
    """The runner's user (uid 1001 on GitHub's hosted runners) owns the checkout; the container is
    root. What the check compiled must be the runner's, or it could not clean the workspace
    (self-hosted)."""
    workspace = make_workspace(tmp_path / "prepared", "passing")
    os.chown(workspace, 1001, 1001)
    run = run_action(
        docker_client, action_image, tmp_path, "passing", preload={}, workspace=workspace
    )
    assert run.exit_code == 0, run.log
    owners = {
        (p.stat().st_uid, p.stat().st_gid)
        for p in (run.workspace / ".gradcheck-ci-cache").rglob("*")
    }
    assert owners == {(1001, 1001)}, owners
    report = json.loads((run.workspace / "gradcheck-report.json").read_text())
    assert report["status"] == "pass"
    assert {m["name"]: m["status"] for m in report["models"]} == {
        "rnn-full-bptt": "pass",
        "mlp": "pass",
    }
    assert "rnn-full-bptt" in run.summary and "mlp" in run.summary
    # The model module prints a fake `::error` line at import: in the log, never a command.
    assert "user output, not an annotation" in run.log
    assert run.annotations("error") == [], [c.raw for c in run.annotations("error")]


def test_reported_network_fails_with_annotation_on_the_layer(docker_client, action_image, tmp_path):
    inputs = {"junit-report": "reports/junit.xml", "sarif-report": "reports/gradcheck.sarif"}
    run = run_action(docker_client, action_image, tmp_path, "seed-rnn", inputs)
    FACTS.append(
        f"reported network (10x1,000x2, 2 models): first verdict after "
        f"{run.first_result or float('nan'):.1f}s, done in {run.seconds:.1f}s"
    )

    assert run.exit_code == 1, run.log
    assert run.outputs["status"] == "fail"
    assert run.outputs["failed-models"] == "seed-rnn-truncated"
    assert run.outputs["report"] == "gradcheck-report.json"
    layer_line = line_of(FIXTURES / "seed-rnn" / "models" / "rnn.py", "RecurrentLayer(")
    errors = run.annotations("error")
    on_layer = [
        c
        for c in errors
        if c.properties.get("file") == "models/rnn.py"
        and c.properties.get("line") == str(layer_line)
    ]
    assert on_layer, [c.raw for c in errors]
    assert "seed-rnn-truncated" in on_layer[0].properties.get("title", "") + on_layer[0].message
    assert not any("seed-rnn-full-bptt" in c.properties.get("title", "") for c in errors)
    assert_properties_escaped(run)
    assert "seed-rnn-truncated" in run.summary and "seed-rnn-full-bptt" in run.summary
    report = json.loads((run.workspace / "gradcheck-report.json").read_text())
    assert {m["name"]: m["status"] for m in report["models"]} == {
        "seed-rnn-truncated": "fail",
        "seed-rnn-full-bptt": "pass",
    }
    assert (run.workspace / "reports" / "junit.xml").read_text().lstrip().startswith("<?xml")
    sarif = json.loads((run.workspace / "reports" / "gradcheck.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    assert sarif["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == "file:///github/workspace/"
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {"truncated-bptt"}


def test_broken_config_is_an_error_on_its_line(docker_client, action_image, tmp_path):
    run = run_action(docker_client, action_image, tmp_path, "broken-config")

    assert run.exit_code == 2, run.log
    assert run.outputs["status"] == "error"
    bad_line = line_of(FIXTURES / "broken-config" / "gradcheck.yml", "kwarg:")
    errors = run.annotations("error")
    assert any(
        c.properties.get("file") == "gradcheck.yml" and c.properties.get("line") == str(bad_line)
        for c in errors
    ), [c.raw for c in errors]
    assert_properties_escaped(run)
    assert run.summary.strip()


@pytest.mark.parametrize(
    "inputs, needle",
    [
        ({"shard": "3/2"}, "shard"),
        ({"fail-on-expected": "maybe"}, "fail-on-expected"),
        ({"working-directory": "no/such/dir"}, "working-directory"),
    ],
)
def test_bad_inputs_are_errors(docker_client, action_image, tmp_path, inputs, needle):
    run = run_action(docker_client, action_image, tmp_path, "passing", inputs)

    assert run.exit_code == 2, run.log
    assert run.outputs["status"] == "error"
    errors = run.annotations("error")
    assert errors and needle in errors[0].message, run.log


def test_models_input_and_working_directory(docker_client, action_image, tmp_path):
    inputs = {"working-directory": "sub/project", "models": "mlp, no-such-*"}
    run = run_action(docker_client, action_image, tmp_path, "passing", inputs, subdir="sub/project")
    # A glob that matches nothing is a usage error: nothing silently skipped.
    assert run.exit_code == 2, run.log

    run = run_action(
        docker_client,
        action_image,
        tmp_path / "again",
        "passing",
        {"working-directory": "sub/project", "models": "mlp"},
        subdir="sub/project",
    )
    assert run.exit_code == 0, run.log
    assert run.outputs["report"] == "sub/project/gradcheck-report.json"
    report = json.loads((run.workspace / "sub/project/gradcheck-report.json").read_text())
    assert [m["name"] for m in report["models"]] == ["mlp"]


def test_shard_input(docker_client, action_image, tmp_path):
    run = run_action(
        docker_client,
        action_image,
        tmp_path,
        "passing",
        {"shard": "2/2", "json-report": "shard-2.json"},
    )
    assert run.exit_code == 0, run.log
    report = json.loads((run.workspace / "shard-2.json").read_text())
    # models dealt round-robin in file order
    assert [m["name"] for m in report["models"]] == ["mlp"]


def test_runs_as_a_non_root_user(docker_client, action_image, tmp_path):
    """The baked cache belongs to root: a non-root run falls back to a writable copy of it."""
    run = run_action(docker_client, action_image, tmp_path, "passing", user="1000:1000")
    assert run.exit_code == 0, run.log
    assert run.outputs["status"] == "pass"
    assert (run.workspace / "gradcheck-report.json").stat().st_uid == 1000

    probe = (
        "from gradcheck_ci.platform.cachedir import default_cache_dir; import os; d = "
        "default_cache_dir(); print(d); print(sum(len(f) for _, _, f in os.walk(d)))"
    )
    out = docker_client.containers.run(
        action_image,
        ["-c", probe],
        entrypoint="/opt/gradcheck/venv/bin/python",
        user="1000:1000",
        environment={"HOME": "/tmp"},
        remove=True,
    )
    cache_dir, files = out.decode().split()
    # a warm copy, not an empty dir
    assert cache_dir != "/opt/gradcheck/theano-cache" and int(files) > 10


def test_image_follows_container_action_rules(docker_client, action_image):
    config = docker_client.images.get(action_image).attrs["Config"]
    assert config["Entrypoint"] == [
        "/opt/gradcheck/venv/bin/python",
        "/opt/gradcheck/entrypoint/main.py",
    ]
    assert not config.get("User")
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["GRADCHECK_THEANO_CACHE"] == "/opt/gradcheck/theano-cache"
    assert env["PYTHONUNBUFFERED"] == "1"
    script = (
        "set -e; test ! -e /root/.cache/pip; test ! -e /src; test ! -e /tmp/examples; "
        'test -n "$(ls -A /opt/gradcheck/theano-cache/compiledir_gradcheck-ci)"; '
        'test -z "$(find /opt/gradcheck/theano-cache ! -perm -o+r)"; '
        "command -v g++; echo ok"
    )
    out = docker_client.containers.run(
        action_image, ["-c", script], entrypoint="/bin/sh", remove=True
    )
    assert out.decode().strip().endswith("ok")


def test_local_docker_run_and_gradcheck_ci_docker_agree(docker_client, action_image, tmp_path):
    """`docker run -v "$PWD:/work" -w /work IMAGE check ...` and `gradcheck-ci docker` give one
    verdict."""
    workspace = make_workspace(tmp_path, "seed-rnn")
    open_up(workspace)
    args = ["check", "--config", "gradcheck.yml", "--model", "seed-rnn-truncated"]

    container = docker_client.containers.create(
        action_image,
        args + ["--json", "by-docker-run.json"],
        working_dir="/work",
        volumes={str(workspace): {"bind": "/work", "mode": "rw"}},
    )
    try:
        container.start()
        plain_code = container.wait(timeout=900)["StatusCode"]
        plain_log = container.logs().decode()
    finally:
        container.remove(force=True)

    cli = run_cli(
        "docker",
        "--image",
        action_image,
        *args,
        "--json",
        "by-gradcheck-ci-docker.json",
        cwd=workspace,
        timeout=900,
    )

    assert plain_code == 1, plain_log
    assert "::error" not in plain_log  # not under Actions: plain text output
    assert cli.code == plain_code, cli.output

    def verdict(name: str) -> dict[str, str]:
        report = json.loads((workspace / name).read_text())
        return {m["name"]: m["status"] for m in report["models"]} | {"*": report["status"]}

    assert (
        verdict("by-docker-run.json")
        == verdict("by-gradcheck-ci-docker.json")
        == {"seed-rnn-truncated": "fail", "*": "fail"}
    )


def test_no_arguments_outside_actions_runs_check(docker_client, action_image, tmp_path):
    workspace = make_workspace(tmp_path, "broken-config")
    container = docker_client.containers.create(
        action_image,
        working_dir=WORKSPACE,
        volumes={str(workspace): {"bind": WORKSPACE, "mode": "rw"}},
    )
    try:
        container.start()
        code = container.wait(timeout=300)["StatusCode"]
        log = container.logs().decode()
    finally:
        container.remove(force=True)
    assert code == 2, log
    assert "kwarg" in log and not effective_commands(log)


def test_annotations_in_a_subdirectory_point_at_the_repository_path(
    docker_client, action_image, tmp_path
):
    run = run_action(
        docker_client,
        action_image,
        tmp_path,
        "broken-config",
        {"working-directory": "sub"},
        subdir="sub",
    )
    assert run.exit_code == 2, run.log
    files = {c.properties.get("file") for c in run.annotations("error")}
    assert "sub/gradcheck.yml" in files, files


def compiled_modules(cache: Path) -> set[str]:
    return {p.name for p in cache.glob("theano/*/compiledir_*/tmp*")}


def test_a_second_run_with_the_cache_compiles_nothing(docker_client, action_image, tmp_path):
    """The cache directory as actions/cache restores it: the second run of an unchanged repository
    finds every module the first one compiled (the passing repo's MLP has a nonlinearity of its own,
    which no image's baked cache can hold)."""
    first = run_action(docker_client, action_image, tmp_path, "passing")
    assert first.exit_code == 0, first.log
    seeded = re.search(
        r"(\d+) compiled module\(s\), (\d+) of them copied from the image's baked "
        r"cache",
        first.log,
    )
    # a new cache starts as the image's
    assert seeded and seeded.group(1) == seeded.group(2), first.log
    after_first = compiled_modules(first.workspace / ".gradcheck-ci-cache")
    assert len(after_first) > int(seeded.group(1))  # these models needed modules the image lacks
    report = json.loads((first.workspace / "gradcheck-report.json").read_text())
    # restored on another runner: same files, another machine (the workspace is copied into a new
    # one)
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copytree(first.workspace / ".gradcheck-ci-cache", restored / "cache")
    second = run_action(
        docker_client,
        action_image,
        tmp_path / "second",
        "passing",
        preload={".gradcheck-ci-cache": restored / "cache"},
    )
    assert second.exit_code == 0, second.log
    # nothing changed: nothing to save
    assert second.outputs["cache-key"] == first.outputs["cache-key"]
    # nothing compiled again
    assert compiled_modules(second.workspace / ".gradcheck-ci-cache") == after_first
    again = json.loads((second.workspace / "gradcheck-report.json").read_text())
    FACTS.append(
        "passing repo, compile seconds: first run {:.1f}, second run with the cache {:.1f}".format(
            sum(m["seconds"]["compile"] for m in report["models"]),
            sum(m["seconds"]["compile"] for m in again["models"]),
        )
    )


def test_merge_input_merges_the_shards_in_the_image(docker_client, action_image, tmp_path):
    """The merge job of a matrix, with the action's `merge` input: no checkout of the models, no
    Python."""
    from tests import FIXTURES as ALL_FIXTURES

    run = run_action(
        docker_client,
        action_image,
        tmp_path,
        "passing",
        {
            "merge": "shards/gradcheck-report-*.json",
            "json-report": "merged.json",
            "sarif-report": "merged.sarif",
            "junit-report": "merged.xml",
        },
        preload={"shards": ALL_FIXTURES / "shards"},
    )
    assert run.exit_code == 1, run.log  # one shard found the truncated model
    assert run.outputs == {
        "status": "fail",
        "failed-models": "seed-rnn-truncated",
        "report": "merged.json",
        "cache-key": "",
    }
    merged = json.loads((run.workspace / "merged.json").read_text())
    assert [m["name"] for m in merged["models"]] == ["seed-rnn-truncated", "seed-rnn-full-bptt"]
    assert (run.workspace / "merged.xml").stat().st_size and (
        run.workspace / "merged.sarif"
    ).stat().st_size
    assert "seed-rnn-full-bptt" in run.summary
    # the shards' jobs annotated; the merge does not repeat them
    assert run.annotations("error") == []
