#!/usr/bin/env bash
# Build the local test base image gradcheck-ci-base:bookworm with debootstrap.
#
# No container registry is reachable on this machine kind, so `FROM python:3.11-slim` cannot be
# pulled. This makes a Debian bookworm image with python3 (3.11), venv, pip, the Python headers and
# g++, then the action image is built on it with `--build-arg BASE_IMAGE=gradcheck-ci-base:bookworm`.
#
# Containers here reach the package index only through this machine's TLS interception, so the
# machine's CA bundle and the pip settings pip needs (cert, timeout) are copied into THIS test image
# only; the shipped Dockerfile never carries them.
#
# Idempotent: does nothing when the image exists (FORCE=1 rebuilds).
#   bash ci/make-base-image.sh
#   IMAGE=other:tag MIRROR=http://deb.debian.org/debian bash ci/make-base-image.sh
set -euo pipefail

image="${IMAGE:-gradcheck-ci-base:bookworm}"
suite="${SUITE:-bookworm}"
host_ca="${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

say() { printf 'make-base-image: %s\n' "$*" >&2; }

if [ "${FORCE:-0}" != "1" ] && docker image inspect "$image" >/dev/null 2>&1; then
    say "$image exists; skipping (FORCE=1 rebuilds)"
    exit 0
fi

command -v debootstrap >/dev/null 2>&1 || {
    say "debootstrap missing: run ci/start-dockerd.sh first (it installs it)"; exit 1; }

# The Debian mirror this machine's apt uses (deb822 .sources first, then one-line sources.list).
find_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # URIs: lines; skip the security archive.
        while read -r uri; do
            case "$uri" in *security*) continue ;; */debian|*/debian/) echo "${uri%/}"; return 0 ;; esac
        done < <(awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' "$f")
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' "$f")
        case "$uri" in */debian|*/debian/) echo "${uri%/}"; return 0 ;; esac
    done
    echo "http://deb.debian.org/debian"
}
mirror="${MIRROR:-$(find_mirror)}"

work="$(mktemp -d "${TMPDIR:-/var/tmp}/gradcheck-ci-base.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

say "debootstrap $suite from $mirror into $root"
start=$SECONDS
debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,python3-dev,g++,ca-certificates \
    "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
        tail -n 40 "$work/debootstrap.log" >&2; exit 1; }
say "debootstrap took $((SECONDS - start))s"

# TLS: this machine's CA bundle (it includes the interception CA). Overwrite the system bundle and keep
# a copy at a path that a later update-ca-certificates in a Dockerfile cannot regenerate away.
if [ -f "$host_ca" ]; then
    install -D -m 0644 "$host_ca" "$root/etc/ssl/certs/ca-certificates.crt"
    install -D -m 0644 "$host_ca" "$root/usr/local/share/gradcheck-ci-base/ca-certificates.crt"
else
    say "warning: $host_ca missing; pip in the container may fail TLS"
fi
pip_cert=/usr/local/share/gradcheck-ci-base/ca-certificates.crt

# pip: the settings the index needs from inside a container (cert, timeout). This machine's
# file:// extra indexes, find-links and constraints are host paths and are not copied.
timeout="${PIP_DEFAULT_TIMEOUT:-180}"
cat >"$root/etc/pip.conf" <<PIPCONF
[global]
cert = $pip_cert
timeout = $timeout
disable-pip-version-check = true
PIPCONF
if [ -n "${PIP_INDEX_URL:-}" ]; then
    printf 'index-url = %s\n' "$PIP_INDEX_URL" >>"$root/etc/pip.conf"
fi

# Keep the image small: no downloaded .debs, no apt lists (a Dockerfile that needs apt runs update).
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log

say "importing as $image"
tar -C "$root" --numeric-owner -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' \
    -c "ENV PIP_CERT=$pip_cert" \
    -c "ENV PIP_DEFAULT_TIMEOUT=$timeout" \
    -c 'CMD ["/bin/bash"]' \
    - "$image" >/dev/null
say "done: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$image") in $((SECONDS - start))s"
