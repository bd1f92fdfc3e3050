#!/usr/bin/env bash
# PostgreSQL from Debian's packages, for the audit ledger's production backend and its tests
# (tests/postgres_server.py starts a throwaway cluster with these binaries). Idempotent:
# does nothing when a server is already installed. No cluster is created or started here.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "provision: PostgreSQL ontbreekt; installeer als root: apt-get install -y postgresql" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# Debian's package creates and starts a system cluster; the project never uses it.
if command -v pg_ctlcluster >/dev/null; then
  for version in /usr/lib/postgresql/*; do
    pg_ctlcluster "$(basename "$version")" main stop 2>/dev/null || true
  done
fi
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
