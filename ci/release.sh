#!/usr/bin/env bash
# The release, step by step: what .github/workflows/release.yml runs on a version tag, and what proves it
# here against a registry on this machine (ci/start-registry.sh), without GitHub.
#
#   ci/release.sh VERSION [STEP...]          (no STEP: all of them, in this order)
#
#   check-version  VERSION (1.2.3) is pyproject.toml's version and gradcheck_ci.__version__
#   build          docker build, OCI labels (version, revision, source), tagged IMAGE:VERSION and IMAGE:MAJOR
#   selftest       the action's end-to-end tests (tests/container) against that exact image, not a rebuild,
#                  the baked cache's (its full warm-up: stock-layer models compile no C) among them
#   push           docker push IMAGE:VERSION and IMAGE:MAJOR
#   pin-action     a release commit on top of the tagged one whose action.yml names docker://IMAGE:VERSION
#                  (main keeps `image: Dockerfile`); tag vVERSION moves onto it and the major tag vMAJOR too
#   dist           sdist and wheel in dist/, checked with `twine check`
#
# IMAGE is REGISTRY/OWNER/NAME: by default localhost:5000/gradcheck-ci/gradcheck-ci; release.yml sets
# REGISTRY=ghcr.io and OWNER to the repository's owner. Other settings, all optional:
#   BASE_IMAGE   the Dockerfile's BASE_IMAGE (here: gradcheck-ci-base:bookworm; on GitHub: the default)
#   WARM_FAMILIES  the Dockerfile's WARM_FAMILIES (default all: every stock layer family; tests/container's
#                release test passes `tests` so that its build reuses the test image's layers)
#   SOURCE_URL   org.opencontainers.image.source (default https://github.com/OWNER/NAME)
#   GIT_PUSH     a remote to push the moved tags to (release.yml: origin); empty keeps them local
#   PYTHON       the interpreter with build, twine and the test dependencies (default: python3)
#   SELFTEST_ARGS  pytest arguments for selftest (default: the action's end-to-end tests and the baked cache's)
#
# Run it in a checkout you may tag: pin-action commits (on a detached HEAD, via a temporary worktree) and
# moves tags in the repository it runs in.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:?usage: ci/release.sh VERSION [STEP...]}"
shift
steps=("$@")
[ "${#steps[@]}" -gt 0 ] || steps=(check-version build selftest push pin-action dist)

registry="${REGISTRY:-localhost:5000}"
owner="$(printf '%s' "${OWNER:-gradcheck-ci}" | tr '[:upper:]' '[:lower:]')"  # registries want lower case
name="${IMAGE_NAME:-gradcheck-ci}"
image="$registry/$owner/$name"
major="${version%%.*}"
source_url="${SOURCE_URL:-https://github.com/${OWNER:-gradcheck-ci}/$name}"
python="${PYTHON:-python3}"

say() { printf 'release %s: %s\n' "$version" "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "VERSION must look like 1.2.3, not '$version'"

check_version() {
    local declared package
    declared="$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)"
    package="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' gradcheck_ci/__init__.py)"
    [ "$declared" = "$version" ] || die "pyproject.toml says version $declared: bump it before tagging v$version"
    [ "$package" = "$version" ] || die "gradcheck_ci/__init__.py says __version__ $package: bump it too"
    say "version $version agrees with pyproject.toml and gradcheck_ci.__version__"
}

build() {
    local args=(--build-arg "VERSION=$version" --build-arg "REVISION=$(git rev-parse HEAD)"
                --build-arg "SOURCE=$source_url" -t "$image:$version" -t "$image:$major")
    [ -z "${BASE_IMAGE:-}" ] || args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
    [ -z "${WARM_FAMILIES:-}" ] || args+=(--build-arg "WARM_FAMILIES=$WARM_FAMILIES")
    say "docker build ${args[*]} ."
    docker build "${args[@]}" .
}

selftest() {
    say "end-to-end tests against $image:$version (as built, not rebuilt)"
    # shellcheck disable=SC2086  # SELFTEST_ARGS is a list of pytest arguments
    GRADCHECK_TEST_IMAGE="$image:$version" GRADCHECK_TEST_NO_BUILD=1 GRADCHECK_REQUIRE_DOCKER=1 \
        "$python" -m pytest -p no:cacheprovider ${SELFTEST_ARGS:-tests/container/test_action_e2e.py tests/container/test_baked_cache.py tests/container/test_lasagne_master.py -k "passing_repo or reported_network or broken_config or stock_layer_models or master_model"}
}

push() {
    say "docker push $image:$version and $image:$major"
    docker push "$image:$version"
    docker push "$image:$major"
}

pin_action() {
    local tree commit
    local who=(-c user.name="${GIT_AUTHOR_NAME:-gradcheck-ci release}"
               -c user.email="${GIT_AUTHOR_EMAIL:-release@gradcheck-ci.invalid}")
    tree="$(mktemp -d "${TMPDIR:-/tmp}/gradcheck-ci-release.XXXXXX")"
    git worktree add --detach "$tree" HEAD >/dev/null
    # The released action.yml runs the pushed image: users pull it instead of building the Dockerfile.
    sed -i "s|^  image: .*|  image: docker://$image:$version|" "$tree/action.yml"
    grep -q "^  image: docker://$image:$version\$" "$tree/action.yml" || die "action.yml has no runs.image line to pin"
    git -C "$tree" "${who[@]}" commit -q -am "Release $version: action.yml runs docker://$image:$version"
    commit="$(git -C "$tree" rev-parse HEAD)"
    git worktree remove --force "$tree"
    git "${who[@]}" tag -f -a "v$version" -m "gradcheck-ci $version" "$commit" >/dev/null
    git "${who[@]}" tag -f -a "v$major" -m "gradcheck-ci $version (latest $major.x)" "$commit" >/dev/null
    say "v$version and v$major now point at the release commit $commit"
    if [ -n "${GIT_PUSH:-}" ]; then
        git push --force "$GIT_PUSH" "refs/tags/v$version" "refs/tags/v$major"
    fi
}

dist() {
    rm -rf dist
    say "sdist and wheel"
    "$python" -m build --sdist --wheel --outdir dist . >/dev/null
    "$python" -m twine check --strict dist/* >&2
    ls dist >&2
}

for step in "${steps[@]}"; do
    case "$step" in
        check-version) check_version ;;
        build) build ;;
        selftest) selftest ;;
        push) push ;;
        pin-action) pin_action ;;
        dist) dist ;;
        *) die "unknown step '$step' (check-version build selftest push pin-action dist)" ;;
    esac
done
say "done: ${steps[*]}"
