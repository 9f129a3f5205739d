#!/usr/bin/env bash
# Build the container tests' action image (gradcheck-ci:e2e FROM the local base image) exactly as
# tests/container/conftest.py's `action_image` fixture does (the Docker SDK, same tag, same build args), so
# that the fixture's own build afterwards reuses every layer. .ci/run starts this in the background while
# the unit and integration tests run, holding the lock file named by GRADCHECK_TEST_IMAGE_LOCK; the fixture
# waits for that lock before it builds.
#
#   bash ci/build-test-image.sh [LOG]
set -euo pipefail
cd "$(dirname "$0")/.."
log="${1:-/dev/stderr}"
# The Lasagne master wheel, for a machine that cannot reach GitHub (the Dockerfile installs it from ci/wheels/)
wheel="${LASAGNE_MASTER_WHEEL:-../shared/wheels/lasagne-0.2.dev1-py3-none-any.whl}"
if [ -f "$wheel" ]; then cp "$wheel" ci/wheels/; fi
.venv/bin/python - "$log" <<'PY'
import os
import sys

import docker

from gradcheck_ci.commands import docker as dockerrun

base = os.environ.get("GRADCHECK_TEST_BASE_IMAGE", "gradcheck-ci-base:bookworm")
tag = os.environ.get("GRADCHECK_TEST_IMAGE", "gradcheck-ci:e2e")
with open(sys.argv[1], "w") as out:
    try:
        dockerrun.build_image(docker.from_env(), ".", tag, base_image=base, out=out)
    except dockerrun.DockerRunError as exc:
        print(exc, file=out)
        sys.exit(1)
PY
