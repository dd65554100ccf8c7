# The Parity feature server. The feature repo (parity.yaml, definitions, data/) is mounted at
# /repo; Redis is reached through PARITY_REDIS_URL. See docs/server.md and docker-compose.yml.
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

# The mounted repo must be writable by uid 10001 (the served-feature log goes to its data/).
USER parity
WORKDIR /repo
EXPOSE 6566

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6566/health', timeout=2)"]

ENTRYPOINT ["parity"]
CMD ["serve", "--repo", "/repo", "--host", "0.0.0.0", "--port", "6566"]
