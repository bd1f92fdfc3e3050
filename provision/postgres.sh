#!/usr/bin/env bash
# PostgreSQL from Debian's packages, for the audit ledger's production backend and its tests
# (tests/postgres_server.py starts a throwaway cluster with these binaries). Idempotent:
# does nothing when a server is already installed. No cluster is created or started here.
set -euo pipefail
source "$(dirname "$0")/apt.sh"

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
apt_install PostgreSQL postgresql
# Debian's package creates and starts a system cluster; the project never uses it.
if command -v pg_ctlcluster >/dev/null; then
  for version in /usr/lib/postgresql/*; do
    pg_ctlcluster "$(basename "$version")" main stop 2>/dev/null || true
  done
fi
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
