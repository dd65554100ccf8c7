"""``create_app(store)``: the feature server as a FastAPI app over one :class:`FeatureStore`.

Routes only call the facade (see :mod:`store.server.routes`); errors become HTTP responses in
one place (:mod:`store.server.errors`). The lifespan loads the definitions before the first
request and, at shutdown, flushes the served-feature log and closes connections.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio.to_thread
from fastapi import FastAPI

from store.errors import StoreError
from store.served_log import SERVED_DIR, ServedLogWriter
from store.server import errors
from store.server.context import ServerContext, key_digest
from store.server.metrics import Metrics
from store.server.middleware import RequestMiddleware
from store.server.responses import JSONResponse
from store.server.routes import open_router, router

if TYPE_CHECKING:
    from store.feature_store import FeatureStore

log = logging.getLogger("parity.server")

DESCRIPTION = """\
Point-in-time correct online features over HTTP. `POST /get-online-features` and `POST /push`
speak Feast's JSON, so Feast HTTP clients work unchanged; see docs/server.md for the deliberate
differences (statuses, timestamps, push modes).
"""


def auth_mode(keys: int, repo: object) -> str:
    """The startup line saying how the data routes are protected."""
    if keys:
        return f"parity: serving {repo}: API keys required on data routes ({keys} key(s))"
    return (
        f"parity: serving {repo}: OPEN, no API keys: anyone who can reach this port can read "
        "and push (set PARITY_API_KEYS=k1,k2 or server.api_keys to require keys)"
    )


def create_app(store: FeatureStore) -> FastAPI:
    """Build the feature server for ``store``.

    Args:
        store: the feature repo to serve; its ``config.server`` gives API keys, limits and
            served-log settings, its data folder holds the served log.

    Returns:
        The ASGI app (run it with uvicorn, or :func:`store.server.run.serve`).
    """
    cfg = store.config.server
    metrics = Metrics()
    served = ServedLogWriter(
        store.data_dir / SERVED_DIR,
        sample_rate=cfg.log_sample_rate,
        max_bytes=cfg.log_max_bytes,
        max_files=cfg.log_max_files,
        rotate_seconds=cfg.log_rotate_seconds,
        retention_seconds=cfg.log_retention_seconds,
    )
    ctx = ServerContext(
        store=store,
        metrics=metrics,
        served=served,
        max_entities=cfg.max_entities,
        read_timeout=2 * store.config.online.socket_timeout + 1.0,
        key_digests=tuple(key_digest(k) for k in cfg.api_keys),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            _ = store.definitions  # import the repo's modules now, not on the first request
        except StoreError as exc:  # start anyway: /ready says what is wrong and what to run
            log.warning("not ready: %s", exc)
        try:  # the embedded Redis starts now, not in the event loop on the first request
            await anyio.to_thread.run_sync(store.online_async.prepare)
        except StoreError as exc:
            log.warning("not ready: %s", exc)
        served.start()
        # Move everything loaded so far out of the collector's sight: full collections then
        # only walk objects made while serving, which keeps GC pauses out of the p99.
        gc.collect()
        gc.freeze()
        # Printed, not logged: uvicorn prints no INFO of other loggers, and an operator must
        # always see whether the server is open.
        print(auth_mode(len(ctx.key_digests), store.repo), file=sys.stderr, flush=True)
        try:
            yield
        finally:
            gc.unfreeze()  # let interpreter shutdown free the startup heap normally
            await ctx.aclose()

    app = FastAPI(
        title="Parity feature server",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=JSONResponse,
    )
    app.state.parity = ctx
    errors.install(app, metrics)
    app.add_middleware(RequestMiddleware, metrics=metrics, max_body_bytes=cfg.max_body_bytes)
    app.include_router(router)
    app.include_router(open_router)
    return app
