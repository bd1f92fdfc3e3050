#!/usr/bin/env bash
# Installs what the project needs, idempotently: the virtual environment (.venv/), Apache
# Kafka's jars from Maven Central and OPA built with `go install` (both into .cache/), and
# PostgreSQL from Debian's packages. Skips whatever is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
source provision/versions.env

need() { command -v "$1" >/dev/null || { echo "provision: '$1' ontbreekt op deze machine ($2)" >&2; exit 1; }; }
need python3 "Python 3.11 of nieuwer"
need java "een JDK 17 of nieuwer voor Kafka"
need mvn "Maven haalt Kafka van Maven Central"
need go "Go bouwt OPA"

# Python
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e ".[dev]"
  rm -f .venv/.installed-*; touch "$stamp"
fi

# Kafka
if [ ! -f ".cache/kafka/libs/kafka_2.13-${KAFKA_VERSION}.jar" ]; then
  rm -rf .cache/kafka/libs
  mvn --batch-mode --quiet -f provision/kafka-pom.xml \
      -Dkafka.version="$KAFKA_VERSION" -Dslf4j.version="$SLF4J_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$PWD/.cache/kafka/libs"
fi

# OPA
if ! .cache/bin/opa version 2>/dev/null | grep -q "^Version: ${OPA_VERSION#v}$"; then
  GOBIN="$PWD/.cache/bin" GOPATH="$PWD/.cache/gopath" GOFLAGS=-modcacherw \
    go install "github.com/open-policy-agent/opa@${OPA_VERSION}"
fi

# PostgreSQL (the audit ledger's production backend; its tests run a real server)
bash provision/postgres.sh
