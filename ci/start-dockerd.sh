#!/usr/bin/env bash
# Make a Docker engine reachable on this machine, for the container end-to-end tests.
#
# Idempotent: installs docker.io and debootstrap with apt-get only when they are missing,
# starts dockerd in the background only when `docker info` does not answer, then waits
# (bounded) until it does. Needs root (the engine runs as root on this machine kind).
#
#   bash ci/start-dockerd.sh            # exit 0 once `docker info` works
#   DOCKERD_WAIT=120 bash ci/start-dockerd.sh
set -euo pipefail

wait_s="${DOCKERD_WAIT:-90}"
log="${DOCKERD_LOG:-/var/log/gradcheck-ci-dockerd.log}"

say() { printf 'start-dockerd: %s\n' "$*" >&2; }

engine_up() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_up; then
    say "engine already reachable"
    exit 0
fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ "${#need[@]}" -gt 0 ]; then
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# docker.io brings its own client at /usr/bin/docker; an older client elsewhere on PATH still works.

if ! pgrep -x dockerd >/dev/null 2>&1; then
    say "starting dockerd (log: $log)"
    mkdir -p "$(dirname "$log")"
    # setsid: the engine must not die with this script's process group.
    setsid nohup dockerd >"$log" 2>&1 < /dev/null &
fi

deadline=$((SECONDS + wait_s))
until engine_up; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        say "dockerd did not answer within ${wait_s}s; last lines of $log:"
        tail -n 30 "$log" >&2 || true
        exit 1
    fi
    sleep 1
done
say "engine reachable ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
