"""Running the feature server with uvicorn: ``serve(repo, host, port, workers)``.

With several workers uvicorn imports the app in each worker process, so the app is built by a
factory (:func:`app_from_env`) that reads the repo path from ``PARITY_REPO``.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from store.errors import ConfigError

REPO_ENV = "PARITY_REPO"
DEFAULT_PORT = 6566  # Feast's default, so existing clients need no new URL


def app_from_env() -> FastAPI:
    """The app for the repo named by ``PARITY_REPO`` (uvicorn calls this in each worker)."""
    from store.feature_store import FeatureStore
    from store.server.app import create_app

    repo = os.environ.get(REPO_ENV)
    if not repo:
        raise ConfigError(f"{REPO_ENV} is not set: start the server with `parity serve`")
    return create_app(FeatureStore(repo))


def serve(
    repo: Path,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    workers: int = 1,
    *,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve ``repo`` over HTTP until interrupted.

    Args:
        repo: the feature repo folder (holding ``parity.yaml``); it must have been applied.
        host: interface to bind (``0.0.0.0`` for every interface, e.g. in a container).
        port: TCP port.
        workers: worker processes; each keeps its own connection pool, metrics and log file.
        log_level: uvicorn's log level.
        access_log: log one line per request (off by default: it costs throughput).

    Raises:
        ConfigError: the repo's ``parity.yaml`` is missing or invalid (checked before any
            worker starts).
    """
    import uvicorn

    from store.config import load_config

    path = Path(repo).resolve()
    load_config(path)  # fail here, with a clean message, rather than in every worker
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    os.environ[REPO_ENV] = str(path)
    uvicorn.run(
        "store.server.run:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=10,
    )
