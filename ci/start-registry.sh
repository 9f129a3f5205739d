#!/usr/bin/env bash
# Start a container registry on this machine, for proving the release path without GitHub (ci/release.sh,
# tests/container/test_release.py, benchmarks/action.py).
#
# No public registry is reachable on this machine kind; Debian packages Docker's own registry
# (`docker-registry`, distribution 2.8). This installs it when missing and runs it in the background on
# 127.0.0.1, without authentication and with its own storage, then waits until it answers. The engine
# accepts plain HTTP from 127.0.0.0/8 registries by default, so `docker push localhost:PORT/...` works
# with no daemon configuration. Idempotent: an answering registry is left alone.
#
#   bash ci/start-registry.sh                     # localhost:5000
#   REGISTRY_PORT=5001 bash ci/start-registry.sh
set -euo pipefail

port="${REGISTRY_PORT:-5000}"
state="${REGISTRY_DIR:-/var/lib/gradcheck-ci-registry}"
log="${REGISTRY_LOG:-/var/log/gradcheck-ci-registry.log}"
wait_s="${REGISTRY_WAIT:-30}"

say() { printf 'start-registry: %s\n' "$*" >&2; }
answers() { curl -fsS -o /dev/null "http://127.0.0.1:${port}/v2/" 2>/dev/null; }

if answers; then
    say "registry already answering on localhost:${port}"
    exit 0
fi

need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ "${#need[@]}" -gt 0 ]; then
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

mkdir -p "$state/storage" "$(dirname "$log")"
# The package's own config asks for htpasswd authentication; this one serves localhost only, without it.
cat >"$state/config.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $state/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
CONFIG

say "starting docker-registry on localhost:${port} (storage $state/storage, log $log)"
# setsid: the registry must outlive this script's process group, like the engine (ci/start-dockerd.sh).
setsid nohup docker-registry serve "$state/config.yml" >"$log" 2>&1 </dev/null &

deadline=$((SECONDS + wait_s))
until answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        say "the registry did not answer within ${wait_s}s; last lines of $log:"
        tail -n 20 "$log" >&2 || true
        exit 1
    fi
    sleep 0.5
done
say "registry answering on localhost:${port}"
