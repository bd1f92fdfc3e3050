# One image for the four services; `command` in docker-compose.yml picks the service.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY services ./services
COPY policies ./policies
COPY schemas ./schemas
RUN pip install --no-cache-dir . && useradd --system --uid 10001 kmt && mkdir -p /var/lib/kmt \
    && chown kmt /var/lib/kmt
USER kmt
ENTRYPOINT ["kmt"]
