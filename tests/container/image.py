"""How the container tests' action image is built: one definition for the `action_image` fixture
(conftest.py) and for ci/build-test-image.sh, which .ci/run starts in the background so that the
fixture's build afterwards reuses every layer (same tag, same build arguments).

The image warms only the layer families the container tests' repositories are built from
(WARM_FAMILIES=tests: ci/warm_cache.py, TEST_FAMILIES: Lasagne 0.1's as a release warms them, one
of master's), about half of a release image's warm-up, which takes most of an hour on a 2-core
machine. A release builds the full warm-up and runs
these tests against that exact image (ci/release.sh selftest, GRADCHECK_TEST_NO_BUILD=1).
GRADCHECK_TEST_WARM_FAMILIES=all builds the test image as a release does.
"""

from __future__ import annotations

import os
from typing import Any

from .runner import REPO_ROOT

BASE_IMAGE = os.environ.get("GRADCHECK_TEST_BASE_IMAGE", "gradcheck-ci-base:bookworm")
TEST_IMAGE = os.environ.get("GRADCHECK_TEST_IMAGE", "gradcheck-ci:e2e")
BUILD_ARGS = {"WARM_FAMILIES": os.environ.get("GRADCHECK_TEST_WARM_FAMILIES", "tests")}


def build(client: Any, out: Any, base_image: str = BASE_IMAGE, tag: str = TEST_IMAGE) -> None:
    """Build the test image from this checkout's Dockerfile, its log to `out`."""
    from gradcheck_ci.commands import docker as dockerrun

    dockerrun.build_image(
        client, REPO_ROOT, tag, base_image=base_image, out=out, build_args=BUILD_ARGS
    )
