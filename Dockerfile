# One image for the four services; `command` in docker-compose.yml picks the service.
FROM openpolicyagent/opa:1.21.3-static AS opa

# The console's NL Design System files and htmx, exactly as services/console/package-lock.json
FROM node:22-slim AS console-assets
WORKDIR /assets
COPY services/console/package.json services/console/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY services ./services
COPY policies ./policies
COPY schemas ./schemas
# `kmt policy build` checks (opa check, opa test, opa eval) and signs (opa build) versions.
COPY --from=opa /opa /usr/local/bin/opa
COPY --from=console-assets /assets/node_modules /app/console-assets/node_modules
RUN pip install --no-cache-dir . && useradd --system --uid 10001 kmt && mkdir -p /var/lib/kmt/policy \
    && chown -R kmt /var/lib/kmt
USER kmt
ENTRYPOINT ["kmt"]
