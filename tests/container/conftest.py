"""Fixtures for the container end-to-end tests: a Docker engine, the local base image, the action
image, and a registry on this machine for the release tests.

An engine comes from ci/start-dockerd.sh and the base image from ci/make-base-image.sh (no registry
is reachable here, so the image is built FROM a local debootstrap image: GRADCHECK_TEST_BASE_IMAGE,
default gradcheck-ci-base:bookworm); the registry from ci/start-registry.sh
(GRADCHECK_TEST_REGISTRY, default localhost:5000). Without them the docker tests are skipped, with
the reason; set GRADCHECK_REQUIRE_DOCKER=1 (as .ci/run does) to make that a failure instead.

GRADCHECK_TEST_IMAGE names the action image (default gradcheck-ci:e2e, built from this checkout with
the container tests' warm-up: image.py); with GRADCHECK_TEST_NO_BUILD=1 it is used as it is: how a
release tests the exact image it pushes (ci/release.sh selftest).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from .image import BASE_IMAGE, TEST_IMAGE, build
from .runner import REPO_ROOT

PREBUILT = os.environ.get("GRADCHECK_TEST_NO_BUILD") == "1"
REGISTRY = os.environ.get("GRADCHECK_TEST_REGISTRY", "localhost:5000")
FACTS: list[str] = []  # measurements shown at the end of the run


def pytest_terminal_summary(terminalreporter) -> None:
    if FACTS:
        terminalreporter.section("gradcheck-ci container")
        for line in FACTS:
            terminalreporter.write_line(line)


def _unavailable(reason: str) -> None:
    if os.environ.get("GRADCHECK_REQUIRE_DOCKER") == "1":
        pytest.fail(f"{reason} (GRADCHECK_REQUIRE_DOCKER=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client():
    try:
        import docker
        import docker.errors
    except ImportError:
        _unavailable("the Docker SDK for Python is not installed (pip install docker)")
    try:
        client = docker.from_env()
        client.ping()
    # no socket, engine down, permission denied
    except (docker.errors.DockerException, OSError) as exc:
        _unavailable(
            f"no Docker engine reachable ({exc.__class__.__name__}); start one with "
            f"ci/start-dockerd.sh"
        )
    return client


@pytest.fixture(scope="session")
def base_image(docker_client) -> str:
    import docker.errors

    try:
        docker_client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        _unavailable(f"base image {BASE_IMAGE} missing; make it with ci/make-base-image.sh")
    return BASE_IMAGE


@pytest.fixture(scope="session")
def action_image(docker_client, tmp_path_factory, request) -> str:
    """The action image, built from this repository's Dockerfile with the SDK (layers reused), or
    the prebuilt GRADCHECK_TEST_IMAGE as it is (GRADCHECK_TEST_NO_BUILD=1)."""
    import docker.errors

    from gradcheck_ci.commands import docker as dockerrun

    if PREBUILT:
        try:
            size = docker_client.images.get(TEST_IMAGE).attrs["Size"]
        except docker.errors.ImageNotFound:
            pytest.fail(
                f"GRADCHECK_TEST_NO_BUILD=1 but there is no image {TEST_IMAGE}", pytrace=False
            )
        FACTS.append(f"action image {TEST_IMAGE} as given (not rebuilt), {size / 1e6:.0f} MB")
        return TEST_IMAGE
    base_image = request.getfixturevalue("base_image")
    stage_master_wheel()
    log_path = tmp_path_factory.mktemp("build") / "build.log"
    waited_for_lock()
    started = time.monotonic()
    with open(log_path, "w") as log:
        try:
            build(docker_client, log, base_image=base_image)
        except dockerrun.DockerRunError as exc:
            tail = "".join(Path(log_path).read_text().splitlines(keepends=True)[-40:])
            pytest.fail(f"{exc}\n--- last lines of the build log ---\n{tail}", pytrace=False)
    seconds = time.monotonic() - started
    size = docker_client.images.get(TEST_IMAGE).attrs["Size"]
    FACTS.append(
        f"action image {TEST_IMAGE} FROM {base_image}: built in {seconds:.0f}s (unchanged "
        f"layers reused), {size / 1e6:.0f} MB; build log {log_path}"
    )
    return TEST_IMAGE


def stage_master_wheel() -> None:
    """The Lasagne master wheel into ci/wheels/ (the Dockerfile installs it from there) when one is
    beside the clone, as ci/build-test-image.sh does: machines here cannot fetch the commit's
    archive from GitHub."""
    import shutil

    wheel = Path(
        os.environ.get("LASAGNE_MASTER_WHEEL")
        or REPO_ROOT.parent / "shared" / "wheels" / "lasagne-0.2.dev1-py3-none-any.whl"
    )
    if wheel.is_file():
        shutil.copy(wheel, REPO_ROOT / "ci" / "wheels" / wheel.name)


def waited_for_lock() -> None:
    """With GRADCHECK_TEST_IMAGE_LOCK set (.ci/run), wait until the background build of this image
    (ci/build-test-image.sh) has released that lock: the build below then reuses its layers."""
    import fcntl

    path = os.environ.get("GRADCHECK_TEST_IMAGE_LOCK")
    if not path or not os.path.exists(path):
        return
    started = time.monotonic()
    with open(path) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fcntl.flock(lock, fcntl.LOCK_UN)
    FACTS.append(
        f"waited {time.monotonic() - started:.0f}s for the background build of the action image"
    )


@pytest.fixture(scope="session")
def registry(docker_client) -> str:
    """A registry on this machine that the engine pushes to and pulls from
    (ci/start-registry.sh)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=10) as response:
            response.read()
    except (urllib.error.URLError, OSError) as exc:
        _unavailable(
            f"no registry answers at {REGISTRY} ({exc}); start one with ci/start-registry.sh"
        )
    return REGISTRY
