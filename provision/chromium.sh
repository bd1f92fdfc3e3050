#!/usr/bin/env bash
# Chromium from Debian's packages, for the console's browser tests (Playwright drives
# /usr/bin/chromium; it never downloads a browser of its own). Idempotent: does nothing when
# it is installed.
set -euo pipefail
source "$(dirname "$0")/apt.sh"

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
apt_install Chromium chromium
test -x /usr/bin/chromium
