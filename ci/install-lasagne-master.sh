#!/usr/bin/env bash
# Install Lasagne master (0.2.dev1 at the pinned commit, gradcheck_ci/platform/lasagne_stacks.py) beside Lasagne 0.1,
# into a directory of its own, never over the release: a worker that checks a model on master puts that
# directory first on its PYTHONPATH.
#
#   bash ci/install-lasagne-master.sh PYTHON TARGET [--optional]
#
# From a wheel built from that commit when one is at hand (LASAGNE_MASTER_WHEEL, or ../shared/wheels/ beside the
# clone: machines that reach only the package registries), else from GitHub's archive of the commit. With
# --optional, a failure to install is reported and the script succeeds: the tests that need master then skip
# with that reason (.ci/run sets GRADCHECK_REQUIRE_MASTER so that they fail instead).
set -euo pipefail
cd "$(dirname "$0")/.."
python="$1"
target="$2"
optional="${3:-}"
commit=5d3c63cb315c50b1cbd27a6bc8664b406f34dd99
archive="https://github.com/Lasagne/Lasagne/archive/$commit.zip"
wheel="${LASAGNE_MASTER_WHEEL:-../shared/wheels/lasagne-0.2.dev1-py3-none-any.whl}"
source="$archive"
if [ -f "$wheel" ]; then
    source="$wheel"
fi
rm -rf "$target.tmp"
if "$python" -m pip install --quiet --no-deps --retries 1 --timeout 20 --target "$target.tmp" "$source"; then
    rm -rf "$target"
    mv "$target.tmp" "$target"
    echo "Lasagne master installed in $target (from $(basename "$source"))"
else
    rm -rf "$target.tmp"
    echo "cannot install Lasagne master from $source: the tests that need it will skip" >&2
    [ "$optional" = "--optional" ] || exit 1
fi
