#!/usr/bin/env bash
# Chromium from Debian's packages, for the console's browser tests (Playwright drives
# /usr/bin/chromium; it never downloads a browser of its own). Idempotent: does nothing when
# it is installed.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "provision: Chromium ontbreekt; installeer als root: apt-get install -y chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
test -x /usr/bin/chromium
