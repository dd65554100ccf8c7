"""What the routes share: the facade, metrics, the served-feature log and the limits."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.requests import Request

from store.errors import StoreError
from store.served_log import ServedLogWriter
from store.server.metrics import Metrics

if TYPE_CHECKING:
    from store.feature_store import FeatureStore

log = logging.getLogger("parity.server")


def key_digest(key: str) -> bytes:
    """API keys are compared as SHA-256 digests: equal lengths, constant time."""
    return hashlib.sha256(key.encode()).digest()


@dataclass
class ServerContext:
    """Per-process server state, kept on ``app.state.parity``."""

    store: FeatureStore
    metrics: Metrics
    served: ServedLogWriter
    max_entities: int
    read_timeout: float
    key_digests: tuple[bytes, ...]
    push_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @staticmethod
    def request_id(request: Request) -> str:
        return str(request.scope.get("state", {}).get("request_id", ""))

    async def problems(self) -> list[tuple[str, str]]:
        """Why the server cannot answer reads now (empty when it can), each as (what, detail):
        ``what`` is safe to show anyone; ``detail`` may name hosts, users and paths."""
        problems = []
        try:
            _ = self.store.definitions
        except StoreError as exc:
            problems.append(("definitions cannot be loaded", f"definitions: {exc}"))
        else:
            try:
                self.store.applied_views()
            except StoreError as exc:
                problems.append(("registry not applied or out of date", f"registry: {exc}"))
        try:
            async with asyncio.timeout(self.read_timeout):
                await self.store.online_async.ping()
        except StoreError as exc:
            if await self.revive_online():
                return await self.problems()
            problems.append(("online store unreachable", str(exc)))
        except TimeoutError:
            what = f"online store: no answer within {self.read_timeout:g}s"
            problems.append((what, what))
        return problems

    async def revive_online(self) -> bool:
        """After an online-store failure: restart the embedded Redis if it has died (in a
        thread: starting it takes a moment). True when it was started; never raises."""
        try:
            started = await anyio.to_thread.run_sync(self.store.online_async.revive)
        except StoreError as exc:
            log.error("the embedded Redis is down and could not be started: %s", exc)
            return False
        if started:
            log.warning("the embedded Redis had died: started it again")
        return started

    async def aclose(self) -> None:
        """Flush the served log and close connections."""
        self.served.close()
        if "online_async" in vars(self.store):  # only if it was ever opened
            await self.store.online_async.close()
        self.store.close()


def context(request: Request) -> ServerContext:
    """The :class:`ServerContext` of the app serving ``request``."""
    ctx: ServerContext = request.app.state.parity
    return ctx
