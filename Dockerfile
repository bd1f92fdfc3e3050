# One image for the four services; `command` in docker-compose.yml picks the service.
FROM openpolicyagent/opa:1.21.3-static AS opa

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY services ./services
COPY policies ./policies
COPY schemas ./schemas
# `kmt policy build` checks (opa check, opa test, opa eval) and signs (opa build) versions.
COPY --from=opa /opa /usr/local/bin/opa
RUN pip install --no-cache-dir . && useradd --system --uid 10001 kmt && mkdir -p /var/lib/kmt/policy \
    && chown -R kmt /var/lib/kmt
USER kmt
ENTRYPOINT ["kmt"]
