#!/usr/bin/env bash
# Build the container tests' action image (gradcheck-ci:e2e FROM the local base image, warming only the
# layer families the container tests use) exactly as tests/container/conftest.py's `action_image` fixture
# does (both call tests/container/image.py: same tag, same build args), so that the fixture's own build
# afterwards reuses every layer. .ci/run starts this in the background while
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
import sys

import docker

from gradcheck_ci.commands.docker import DockerRunError
from tests.container.image import build

with open(sys.argv[1], "w") as out:
    try:
        build(docker.from_env(), out)
    except DockerRunError as exc:
        print(exc, file=out)
        sys.exit(1)
PY
