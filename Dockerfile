# The Parity feature server, serving the example fraud repo out of the box:
#   docker compose up            (see docker-compose.yml and docs/server.md)
# The example's definitions are baked in at /repo; its data folder /repo/data is a volume
# owned by the non-root user. At the first start the entrypoint generates the sample data,
# applies and materializes it into Redis (PARITY_REDIS_URL), then serves on :6566.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY store ./store
# uvicorn[standard] adds uvloop and httptools: a faster event loop and HTTP parser.
RUN pip install . "uvicorn[standard]" \
    && useradd --create-home --uid 10001 parity

COPY definitions/parity.yaml definitions/features.py /repo/
COPY docker/entrypoint.sh /usr/local/bin/parity-entrypoint
# /repo/data exists and belongs to uid 10001, so a named volume mounted there starts with that
# owner (Docker copies the image folder's ownership into an empty named volume).
RUN mkdir -p /repo/data \
    && chown -R parity:parity /repo/data \
    && chmod 0755 /usr/local/bin/parity-entrypoint

USER parity
WORKDIR /repo
EXPOSE 6566

# Ready = Redis answers and the registry is applied (/ready is 503 until then); the first
# start generates and materializes the sample data first, hence the long start period.
HEALTHCHECK --interval=10s --timeout=3s --start-period=180s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6566/ready', timeout=2)"]

ENTRYPOINT ["parity-entrypoint"]
CMD ["serve", "--repo", "/repo", "--host", "0.0.0.0", "--port", "6566"]
