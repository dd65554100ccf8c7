"""The online store of one project: writes, reads, watermarks, on Redis or the embedded server.

Connections are opened lazily, on first use; with no URL configured the embedded redis-server
is started then (see :mod:`store.online.embedded`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from store.aggregation import AggregationView
from store.config import OnlineConfig
from store.definitions import FeatureView
from store.errors import OnlineStoreError
from store.online.codec import from_micros, to_micros
from store.online.connection import (
    AsyncClient,
    SyncClient,
    connect,
    connect_async,
    mask_url,
    roundtrip,
    translate,
)
from store.online.embedded import embedded_url, ensure_embedded, is_running, server_pid
from store.online.keys import meta_key, push_key, view_pattern
from store.online.raw import hmget_many, scan_keys
from store.online.reader import ReadResult, ViewRead, decode_read, plan_read
from store.online.tiles import add_tile_columns, split_reads, tile_commands, write_tiles
from store.online.writer import Writer, WriteStats
from store.pids import pid_alive
from store.types import check_name


def _view_name(view: FeatureView | str) -> str:
    return check_name(view.name if isinstance(view, FeatureView) else view, what="feature view")


# KEYS[1] the watermarks hash, ARGV: view, micros, version. Keeps a newer or equal committed
# watermark of the same version (returns 1); otherwise sets it (returns 0).
PUSH_ID_SECONDS = 7 * 24 * 3600
"""How long the id of an online-only push is remembered (a retry after that appends again)."""

_WATERMARK_CAS = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  if sep and string.sub(cur, sep + 1) == ARGV[3]
     and tonumber(string.sub(cur, 1, sep - 1)) > tonumber(ARGV[2]) then
    return 1
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
return 0
"""


class _Base:
    def __init__(self, config: OnlineConfig, data_dir: Path, project: str) -> None:
        self.config = config
        self.data_dir = Path(data_dir)
        self.project = check_name(project, what="project")
        self._url = config.url

    def _resolve_url(self) -> str:
        if self._url is None:
            self.revive()  # starts the embedded server unless it runs (or is only paused)
            self._url = embedded_url(self.data_dir)
        return self._url

    def prepare(self) -> str:
        """Start the embedded server now if it is needed and down (it blocks: servers call
        this at startup, in a thread, not on their first request); returns the URL."""
        return self._resolve_url()

    def revive(self) -> bool:
        """Start the embedded server again if it has died; True if this call started it.

        What the docs promise: the first process to find the embedded server down starts it
        (the start itself is serialized by a file lock, so several processes finding it down
        at once start one). A server whose process is alive but does not answer (paused,
        busy) is left alone: a second server on the same files would corrupt them. A
        configured ``online.url`` is never touched.
        """
        if self.config.url is not None:
            return False
        pid = server_pid(self.data_dir)
        # Its process first: a ping of a paused server takes seconds (redis-py's retries).
        if (pid is not None and pid_alive(pid)) or is_running(self.data_dir):
            return False
        self._url = ensure_embedded(self.data_dir)
        return True

    @property
    def url(self) -> str:
        """The server's URL with any password masked (the embedded one once started)."""
        return mask_url(self._url) if self._url else f"embedded ({self.data_dir / 'redis'})"


class OnlineStore(_Base):
    """Synchronous online store for one project.

    Args:
        config: the repo's online settings (no ``url``: the embedded server).
        data_dir: the repo's data folder (holds the embedded server's files).
        project: the project name, part of every key.
    """

    def __init__(self, config: OnlineConfig, data_dir: Path, project: str) -> None:
        super().__init__(config, data_dir, project)
        self._client: SyncClient | None = None
        self._writer: Writer | None = None

    @property
    def client(self) -> SyncClient:
        """The redis-py client (connecting, or starting the embedded server, on first use)."""
        if self._client is None:
            self._client = connect(self._resolve_url(), self.config)
        return self._client

    def ping(self) -> bool:
        """Check the server answers.

        Raises:
            OnlineStoreError: it does not, within the configured timeout.
        """
        with translate(self._resolve_url()):
            return bool(self.client.ping())

    def status(self) -> tuple[bool, str]:
        """Whether the server answers, and where it is; never starts the embedded server (a
        status must not change state)."""
        if self.config.url is None:
            return is_running(self.data_dir), f"{embedded_url(self.data_dir)} (embedded)"
        try:
            return self.ping(), self.url
        except OnlineStoreError:
            return False, self.url

    def write(
        self,
        view: FeatureView,
        version: str,
        data: pa.Table | pa.RecordBatchReader,
        *,
        ttl: timedelta | None = None,
        chunk_size: int = 2000,
    ) -> WriteStats:
        """Compare-and-set rows of ``view``; see :meth:`store.online.writer.Writer.write`."""
        if self._writer is None:
            self._writer = Writer(self.client, self.project, self._resolve_url())
        return self._writer.write(view, version, data, ttl=ttl, chunk_size=chunk_size)

    def read(
        self, requests: Sequence[ViewRead], entity_rows: Sequence[Mapping[str, Any]], now: datetime
    ) -> ReadResult:
        """Read features of every entity row from every requested view in one round trip.

        Raises:
            EntityFrameError: a missing or mistyped join key (names the column and row).
            FeatureNotFoundError: a feature not in its view.
            OnlineStoreError: Redis unreachable or failing.
        """
        plain, aggs = split_reads(requests)
        plan = plan_read(self.project, plain, entity_rows)
        tiles = tile_commands(self.project, aggs, entity_rows)
        with translate(self._resolve_url()):
            replies = roundtrip(self.client, plan.commands + tiles)
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        split = len(plan.commands)
        result = decode_read(plan, replies[:split], now)
        return add_tile_columns(result, aggs, replies[split:], len(entity_rows))

    def write_tiles(
        self, view: AggregationView, version: str, as_of: datetime, tiles: pa.Table
    ) -> tuple[int, int]:
        """Replace keys' tiles as of ``as_of``; see :func:`store.online.tiles.write_tiles`."""
        with translate(self._resolve_url()):
            return write_tiles(self.client, self.project, view, version, as_of, tiles)

    def read_raw(
        self, keys: Sequence[bytes], fields: Sequence[bytes], *, chunk_size: int = 5000
    ) -> list[list[bytes | None]]:
        """Stored payloads of ``fields`` of every full key (``HMGET``), pipelined in chunks."""
        with translate(self._resolve_url()):
            return hmget_many(self.client, keys, fields, chunk_size=chunk_size)

    def scan_view(self, view: FeatureView | str) -> list[bytes]:
        """Every key of ``view`` in the store (SCAN; every node of a cluster)."""
        pattern = view_pattern(self.project, _view_name(view))
        with translate(self._resolve_url()):
            return list(scan_keys(self.client, pattern))

    def set_watermark(self, view: FeatureView | str, version: str, as_of: datetime) -> bool:
        """Record that ``view`` (at ``version``) is materialized up to ``as_of``.

        A compare-and-set in Redis, like the values: the committed watermark of a version never
        moves backwards. Returns False (and changes nothing) when the same version is already
        committed at a *later* time; the same ``as_of`` again is an idempotent rerun (True); a
        new version's watermark replaces the old one's.
        """
        micros = str(to_micros(as_of))
        with translate(self._resolve_url()):
            kept = self.client.eval(
                _WATERMARK_CAS, 1, meta_key(self.project), _view_name(view), micros, version
            )
        return not kept

    def push_record(self, view: FeatureView | str, push_id: str) -> str | None:
        """The digest recorded for an online-only push ``push_id`` to ``view``, if any."""
        with translate(self._resolve_url()):
            raw = self.client.get(push_key(self.project, _view_name(view), push_id))
        return None if raw is None else (raw.decode() if isinstance(raw, bytes) else str(raw))

    def record_push(
        self, view: FeatureView | str, push_id: str, digest: str, *, keep: int = PUSH_ID_SECONDS
    ) -> None:
        """Record that an online-only push ``push_id`` was written (kept ``keep`` seconds)."""
        with translate(self._resolve_url()):
            self.client.set(push_key(self.project, _view_name(view), push_id), digest, ex=keep)

    def get_watermark(self, view: FeatureView | str) -> tuple[datetime, str] | None:
        """The committed ``(as_of, version)`` of ``view``, or None if never materialized."""
        with translate(self._resolve_url()):
            raw = self.client.hget(meta_key(self.project), _view_name(view))
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        micros, version = text.split("|", 1)
        return from_micros(int(micros)), version

    def delete_view(self, view: FeatureView | str) -> int:
        """Delete every key of ``view`` and its watermark; returns the number of keys removed."""
        view = _view_name(view)
        pattern = view_pattern(self.project, view)
        removed = 0
        with translate(self._resolve_url()):
            batch: list[bytes] = []
            for key in self.client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    removed += self._unlink(batch)
                    batch = []
            removed += self._unlink(batch)
            self.client.hdel(meta_key(self.project), view)
        return removed

    def _unlink(self, keys: list[bytes]) -> int:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.unlink(key)
        return sum(int(n) for n in pipe.execute())

    def close(self) -> None:
        """Close the connection pool (the embedded server keeps running)."""
        if self._client is not None:
            self._client.close()
            self._client = None
            self._writer = None


class AsyncOnlineStore(_Base):
    """Asyncio reads with the same semantics as :meth:`OnlineStore.read` (for the server)."""

    def __init__(self, config: OnlineConfig, data_dir: Path, project: str) -> None:
        super().__init__(config, data_dir, project)
        self._client: AsyncClient | None = None

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            self._client = connect_async(self._resolve_url(), self.config)
        return self._client

    async def ping(self) -> bool:
        """Check the server answers; raises OnlineStoreError if not."""
        with translate(self._resolve_url()):
            return bool(await self.client.ping())

    async def read(
        self, requests: Sequence[ViewRead], entity_rows: Sequence[Mapping[str, Any]], now: datetime
    ) -> ReadResult:
        """Same as :meth:`OnlineStore.read`, without blocking the event loop."""
        plain, aggs = split_reads(requests)
        plan = plan_read(self.project, plain, entity_rows)
        tiles = tile_commands(self.project, aggs, entity_rows)
        with translate(self._resolve_url()):
            pipe = self.client.pipeline(transaction=False)
            for command in plan.commands + tiles:
                pipe.execute_command(*command)
            replies = await pipe.execute()
        split = len(plan.commands)
        result = decode_read(plan, replies[:split], now)
        return add_tile_columns(result, aggs, replies[split:], len(entity_rows))

    async def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
