#!/usr/bin/env bash
# Debian's chromium, for the HTML report's browser test (tests/integration/test_html_report.py).
# Idempotent: installs with apt-get only when no chromium is on the PATH. Needs root.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    echo "install-chromium: $(chromium --version 2>/dev/null || echo chromium) already installed" >&2
    exit 0
fi
echo "install-chromium: installing chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
chromium --version >&2
