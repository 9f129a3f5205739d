# gradcheck-ci: the GitHub Action's container (also `docker run` on a laptop, and `gradcheck-ci docker`).
#
# The pinned legacy stack (Theano 1.0.5, Lasagne 0.1, numpy 1.23.5, pins in pyproject.toml) in a venv at a
# fixed path, Lasagne master (0.2.dev1 at a pinned commit) beside it, g++ (Theano compiles C at run time), and Theano's compile cache warmed at build time by
# checking the bundled examples and every stock layer family (ci/warm_cache.py). Works on any Debian-based
# Python 3.11 image: the public python:3.11-slim (python3 in /usr/local/bin) or a Debian bookworm with
# python3 in /usr/bin; the venv hides the difference. Classic-builder syntax only (no BuildKit features), so the Docker SDK and old
# engines build it too.
#
#   docker build -t gradcheck-ci .
#   docker build --build-arg BASE_IMAGE=gradcheck-ci-base:bookworm -t gradcheck-ci .
#   docker build --build-arg VERSION=1.2.3 --build-arg REVISION="$(git rev-parse HEAD)" \
#       --build-arg SOURCE=https://github.com/OWNER/gradcheck-ci -t gradcheck-ci:1.2.3 .   (ci/release.sh)
#
# Size (docs/action.md, "The image"): only what a check uses. Compilers stay (Theano compiles C at run
# time); pip, the stack's own test suites, debug symbols and the C sources of cached modules go.
ARG BASE_IMAGE=python:3.11-slim

# ---- runtime: what every later stage and the final image share --------------------------------------
FROM ${BASE_IMAGE} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# g++ only when the base lacks it (python:3.11-slim does; a base with g++ needs no package index).
# Theano's generated C needs Python.h and libpython3.11.so: python:3.11-slim ships both, a Debian base
# needs python3-dev. Unpinned on purpose: Debian's point releases replace these versions.
# The Theano config file sets portable compiler flags: Theano keys its cache on the compile flags, and
# its default (the CPU's -march=native equivalent) would make the baked cache miss on another CPU (and
# the kernel version in its default directory name would miss on another kernel).
# hadolint ignore=DL3008
RUN python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), "need Python 3.11, got " + sys.version' \
    && if ! command -v g++ >/dev/null; then \
         apt-get update \
         && apt-get install -y --no-install-recommends g++ \
         && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/info/*; \
       fi \
    && python3 -c 'import sysconfig, os; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")), "Python.h missing: install python3-dev in the base image"' \
    && mkdir -p /opt/gradcheck \
    && case "$(uname -m)" in \
         x86_64) march="-march=x86-64 -mtune=generic" ;; \
         aarch64) march="-march=armv8-a" ;; \
         *) march="" ;; \
       esac \
    && printf '[global]\ncompiledir_format = compiledir_gradcheck-ci\n\n[gcc]\ncxxflags = %s\n' "$march" \
         > /opt/gradcheck/theanorc
# git, for the `changed-since` input: it diffs the checked-out repository against a commit (read-only).
# apt-get clean and the package caches go in the same layer: a base without Docker's apt hook (a
# debootstrap image) would otherwise keep ~90 MB of .deb files and package lists in it.
# hadolint ignore=DL3008
RUN if ! command -v git >/dev/null; then \
      apt-get update \
      && apt-get install -y --no-install-recommends git \
      && apt-get clean \
      && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin; \
    fi
ENV THEANORC=/opt/gradcheck/theanorc \
    GRADCHECK_THEANO_CACHE=/opt/gradcheck/theano-cache \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/gradcheck/venv/bin:$PATH

# ---- build: the venv, dependencies first so code changes reuse that layer --------------------------
FROM runtime AS build
RUN python3 -m venv /opt/gradcheck/venv
COPY pyproject.toml /src/
# A stub package (and README: an edit to the real one must not rebuild this layer) lets pip resolve and
# install the pinned stack (the `check` extra) from pyproject.toml alone. Never used at run time, so not
# shipped: the stack's own test suites (numpy, scipy, and Theano's except theano/tests, which `import
# theano` loads) and the libraries' debug symbols (~15 MB).
RUN mkdir -p /src/gradcheck_ci \
    && touch /src/gradcheck_ci/__init__.py \
    && echo "gradcheck-ci" > /src/README.md \
    && pip install --no-cache-dir "/src[check]" \
    && pip uninstall -y gradcheck-ci \
    && rm -rf /src/build /src/*.egg-info \
    && site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && find "$site/numpy" "$site/scipy" -type d -name tests -prune -exec rm -rf {} + \
    && find "$site/theano" -mindepth 2 -type d -name tests -prune -exec rm -rf {} + \
    && find "$site" -name '*.so*' -type f -exec strip --strip-unneeded {} +
# Lasagne master beside Lasagne 0.1, in the venv's share/gradcheck-ci/lasagne-master, where gradcheck-ci looks
# for it (gradcheck_ci/platform/lasagne_stacks.py): a model on master gets that directory first on its worker's
# PYTHONPATH. From a wheel of the pinned commit in ci/wheels/ when there is one (machines without GitHub),
# else from GitHub's archive of the commit.
COPY ci/install-lasagne-master.sh /tmp/master/ci/install-lasagne-master.sh
COPY ci/wheels /tmp/master/ci/wheels
RUN wheel="$(find /tmp/master/ci/wheels -name 'lasagne-0.2.dev1-*.whl' -print -quit)" \
    && LASAGNE_MASTER_WHEEL="${wheel:-none}" bash /tmp/master/ci/install-lasagne-master.sh python \
         /opt/gradcheck/venv/share/gradcheck-ci/lasagne-master \
    && rm -rf /tmp/master
COPY gradcheck_ci /src/gradcheck_ci
# pip leaves with the package installed: the check never installs anything (~16 MB; `python -m ensurepip`
# brings it back in a derived image).
RUN pip install --no-cache-dir --no-deps /src \
    && python -c 'import gradcheck_ci.commands.cli' \
    && rm -rf /src \
    && python -m pip uninstall -y pip

# ---- warm: check the bundled examples and every stock layer family once, keep only the compile cache --
# ci/warm_cache.py checks a network per stock Lasagne layer family and variant in float64 and float32, on
# Lasagne 0.1 and on Lasagne master (whose layers build other graphs, and which has families of its own),
# as a user's run would, so a first run on a stock-layer model compiles no C. It stops the build when a
# network cannot be built or compiled. No cache directory: the function cache stays off. The modules'
# debug symbols go (strip: 175 kB -> 23 kB a module); Theano loads the .so and key.pkl only.
FROM build AS warm
COPY examples /tmp/warm/examples
COPY ci/warm_cache.py /tmp/warm/ci/warm_cache.py
COPY ci/warm /tmp/warm/ci/warm
# all: every family (releases, users). tests: only those the container tests' repositories are built
# from (ci/warm_cache.py, TEST_FAMILIES), for the image tests/container builds (tests/container/image.py):
# about half the warm-up.
ARG WARM_FAMILIES=all
RUN mkdir -p "$GRADCHECK_THEANO_CACHE" \
    && python /tmp/warm/ci/warm_cache.py --families "$WARM_FAMILIES" \
    && rm -rf /tmp/warm \
    && find "$GRADCHECK_THEANO_CACHE" -name lock_dir -prune -exec rm -rf {} + \
    && find "$GRADCHECK_THEANO_CACHE" -path '*/tmp*/mod.cpp' -delete \
    && find "$GRADCHECK_THEANO_CACHE" -name '*.so' -exec strip --strip-unneeded {} + \
    && chmod -R a+rX "$GRADCHECK_THEANO_CACHE" \
    && du -sh "$GRADCHECK_THEANO_CACHE"

# ---- the image -----------------------------------------------------------------------------------
FROM runtime
COPY --from=build /opt/gradcheck/venv /opt/gradcheck/venv
COPY --from=warm /opt/gradcheck/theano-cache /opt/gradcheck/theano-cache
COPY entrypoint /opt/gradcheck/entrypoint
ENTRYPOINT ["/opt/gradcheck/venv/bin/python", "/opt/gradcheck/entrypoint/main.py"]
# Last, so that a new version or revision reuses every layer above. Set by a release (ci/release.sh,
# .github/workflows/release.yml); a local build says "dev".
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/gradcheck-ci/gradcheck-ci
LABEL org.opencontainers.image.title="gradcheck-ci" \
      org.opencontainers.image.description="Check Theano/Lasagne gradients against finite differences in CI" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
