"""The release path, proven without GitHub: ci/release.sh (the steps release.yml runs) in a copy of
this checkout, against a registry on this machine (ci/start-registry.sh); then the released
action.yml's image, pulled from that registry, run exactly as the Actions runner runs a `docker://`
action, on the reported network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests import FIXTURES as ALL_FIXTURES

from .conftest import BASE_IMAGE, FACTS
from .image import BUILD_ARGS
from .runner import FIXTURES, REPO_ROOT, line_of, run_like_the_runner

pytestmark = pytest.mark.docker

# a release of github.com/Octo-Org/gradcheck-ci: registries want the name lower case
OWNER = "Octo-Org"
SKIP = shutil.ignore_patterns(
    ".git",
    ".venv",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".hypothesis",
    "reports",
    "dist",
    "build",
    "*.egg-info",
    ".gradcheck-ci-cache",
    ".mypy_cache",
    ".ruff_cache",
)


def version() -> str:
    text = (REPO_ROOT / "pyproject.toml").read_text()
    return re.search(r'^version = "([^"]+)"', text, re.M).group(1)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def released(docker_client, registry, action_image, tmp_path_factory):
    """This checkout as a repository of its own, released by ci/release.sh (every step) to the
    registry."""
    clone = tmp_path_factory.mktemp("release") / "gradcheck-ci"
    shutil.copytree(REPO_ROOT, clone, ignore=SKIP)
    git("init", "-q", cwd=clone)
    git("add", "-A", cwd=clone)
    git(
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "commit",
        "-q",
        "-m",
        "the tagged commit",
        cwd=clone,
    )
    tagged = git("rev-parse", "HEAD", cwd=clone)
    env = dict(
        os.environ,
        REGISTRY=registry,
        OWNER=OWNER,
        BASE_IMAGE=BASE_IMAGE,
        # the test image's warm-up, so this build reuses its layers; a real release warms every
        # family (release.yml does not set it)
        **BUILD_ARGS,
        PYTHON=sys.executable,
        SELFTEST_ARGS="tests/container/test_action_e2e.py -k passing_repo",
    )
    env.pop("GRADCHECK_TEST_IMAGE", None)
    env.pop("GRADCHECK_TEST_NO_BUILD", None)
    result = subprocess.run(
        ["bash", "ci/release.sh", version()],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-6000:]
    return {"clone": clone, "tagged": tagged, "log": result.stderr, "registry": registry}


def test_release_script_runs_every_step_of_release_yml(released):
    assert (
        f"release {version()}: done: check-version build selftest push pin-action dist"
        in released["log"]
    )
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "release.yml").read_text())
    steps = " ".join(
        step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]
    )
    for step in ("check-version", "build", "selftest", "push", "pin-action", "dist"):
        assert f'ci/release.sh "$VERSION" {step}' in steps, step  # the workflow runs the same steps


def test_the_release_commit_names_the_pushed_image_and_the_tags_moved(released):
    clone, tagged = released["clone"], released["tagged"]
    release_commit = git("rev-list", "-n", "1", f"v{version()}", cwd=clone)
    assert git("rev-list", "-n", "1", f"v{version().split('.')[0]}", cwd=clone) == release_commit
    # on top of the tagged commit
    assert git("rev-parse", f"{release_commit}^", cwd=clone) == tagged
    image = yaml.safe_load(git("show", f"v{version()}:action.yml", cwd=clone))["runs"]["image"]
    assert image == f"docker://{released['registry']}/octo-org/gradcheck-ci:{version()}"
    # the branch keeps building its Dockerfile, so pull requests test their own code
    assert (
        yaml.safe_load(git("show", f"{tagged}:action.yml", cwd=clone))["runs"]["image"]
        == "Dockerfile"
    )


def test_the_registry_holds_the_version_and_the_major_tag(released):
    with urllib.request.urlopen(
        f"http://{released['registry']}/v2/octo-org/gradcheck-ci/tags/list"
    ) as response:
        tags = json.load(response)["tags"]
    assert {version(), version().split(".")[0]} <= set(tags)


def test_sdist_and_wheel_are_built_and_checked(released):
    dist = released["clone"] / "dist"
    names = sorted(p.name for p in dist.iterdir())
    assert any(n.endswith(f"-{version()}-py3-none-any.whl") for n in names), names
    assert any(n.endswith(f"-{version()}.tar.gz") for n in names), names
    # twine check, sdist and wheel
    assert released["log"].count("PASSED") == 2, released["log"][-2000:]


def test_the_released_action_from_the_pulled_image_as_the_runner_runs_it(
    released, docker_client, tmp_path
):
    clone = released["clone"]
    action_yml = git("show", f"v{version()}:action.yml", cwd=clone)
    image = yaml.safe_load(action_yml)["runs"]["image"].removeprefix("docker://")
    # Nothing local under the released name: the runner pulls it, as on a fresh machine.
    for tag in (image, image.rsplit(":", 1)[0] + ":" + version().split(".")[0]):
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
    pulled = subprocess.run(["docker", "pull", image], capture_output=True, text=True, timeout=900)
    assert pulled.returncode == 0, pulled.stderr

    labels = docker_client.images.get(image).attrs["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == version()
    assert labels["org.opencontainers.image.revision"] == released["tagged"]
    assert labels["org.opencontainers.image.source"] == f"https://github.com/{OWNER}/gradcheck-ci"

    run = run_like_the_runner(
        image, tmp_path, "seed-rnn", action_yml, {"sarif-report": "gradcheck.sarif"}
    )
    FACTS.append(
        f"released image pulled from {released['registry']}, run as the runner runs it: "
        f"first verdict after {run.first_result or float('nan'):.1f}s, done in "
        f"{run.seconds:.1f}s"
    )
    assert run.exit_code == 1, run.log
    assert run.outputs["status"] == "fail" and run.outputs["failed-models"] == "seed-rnn-truncated"
    assert run.outputs["report"] == "gradcheck-report.json"
    assert run.outputs["cache-key"].startswith("gradcheck-ci-py3.11-")
    layer_line = line_of(FIXTURES / "seed-rnn" / "models" / "rnn.py", "RecurrentLayer(")
    on_layer = [
        c
        for c in run.annotations("error")
        if c.properties.get("file") == "models/rnn.py"
        and c.properties.get("line") == str(layer_line)
    ]
    assert on_layer and "seed-rnn-truncated" in on_layer[0].properties.get("title", ""), run.log
    assert "seed-rnn-truncated" in run.summary and "seed-rnn-full-bptt" in run.summary
    report = json.loads((run.workspace / "gradcheck-report.json").read_text())
    assert {m["name"]: m["status"] for m in report["models"]} == {
        "seed-rnn-truncated": "fail",
        "seed-rnn-full-bptt": "pass",
    }
    sarif = json.loads((run.workspace / "gradcheck.sarif").read_text())
    assert sarif["runs"][0]["tool"]["driver"]["version"] == version()
    assert (run.workspace / ".gradcheck-ci-cache" / ".gitignore").exists()


def test_merge_runs_in_the_released_image(released, tmp_path):
    """`docker run IMAGE merge ...`: the shards of a matrix merged in the image, no Python needed on
    the host."""
    image = f"{released['registry']}/octo-org/gradcheck-ci:{version()}"
    for path in (ALL_FIXTURES / "shards").glob("gradcheck-report-*.json"):
        shutil.copy(path, tmp_path / path.name)
    result = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "-v",
            f"{tmp_path}:/work",
            "-w",
            "/work",
            image,
            "merge",
            "gradcheck-report-1.json",
            "gradcheck-report-2.json",
            "--json",
            "merged.json",
            "--junit",
            "merged.xml",
            "--sarif",
            "merged.sarif",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert [m["name"] for m in merged["models"]] == ["seed-rnn-truncated", "seed-rnn-full-bptt"]
    assert (tmp_path / "merged.xml").stat().st_size and (tmp_path / "merged.sarif").stat().st_size
