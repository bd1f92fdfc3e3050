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
need npm "npm installeert de NL Design System-bestanden van de console"

# Python
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  # the browser tests drive Debian's Chromium (below); Playwright never fetches its own
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
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

# A minimal OpenTelemetry Collector (the OTLP receiver and the file exporter, built from the
# collector's own Go modules as pinned in provision/otelcol/go.mod): the tests start it to
# receive the services' spans and the LDV records over real OTLP
otelcol_stamp=".cache/bin/.kmt-otelcol-$(cat provision/otelcol/go.mod provision/otelcol/go.sum \
  provision/otelcol/main.go | sha256sum | cut -c1-16)"
if [ ! -f "$otelcol_stamp" ] || [ ! -x .cache/bin/kmt-otelcol ]; then
  (cd provision/otelcol && GOPATH="$PWD/../../.cache/gopath" GOFLAGS="-modcacherw -buildvcs=false" \
    go build -mod=readonly -o ../../.cache/bin/kmt-otelcol .)
  rm -f .cache/bin/.kmt-otelcol-*; touch "$otelcol_stamp"
fi

# PostgreSQL (the audit ledger's production backend; its tests run a real server)
bash provision/postgres.sh

# The console's browser assets (NL Design System CSS and tokens, htmx), exactly as locked
console_stamp=".cache/console/.installed-$(sha256sum services/console/package-lock.json | cut -c1-16)"
if [ ! -f "$console_stamp" ]; then
  rm -rf .cache/console && mkdir -p .cache/console
  cp services/console/package.json services/console/package-lock.json .cache/console/
  npm ci --prefix .cache/console --ignore-scripts --no-audit --no-fund --loglevel=error
  touch "$console_stamp"
fi

# Chromium for the console's browser tests
bash provision/chromium.sh
