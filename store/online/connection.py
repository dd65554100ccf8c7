"""Redis clients from an :class:`~store.config.OnlineConfig`, and the one place that turns
redis-py's exceptions into :class:`~store.errors.OnlineStoreError`.

URLs: ``redis://[user:password@]host:port/db``, ``rediss://`` (TLS), ``unix:///path.sock``;
``cluster: true`` gives a Redis Cluster client. Connect and read timeouts come from the config
and retries are capped, so an unreachable server fails within a bounded time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
import redis.exceptions
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from store.config import OnlineConfig
from store.errors import OnlineStoreError

_hiredis_pack: Callable[..., bytes] | None
try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is a dependency, but optional in redis-py
    _hiredis_pack = None

SyncClient = redis.Redis | redis.cluster.RedisCluster
AsyncClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (safe to print and log)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _options(config: OnlineConfig) -> dict[str, Any]:
    return {
        "socket_timeout": config.socket_timeout,
        "socket_connect_timeout": config.socket_timeout,
        "max_connections": config.max_connections,
    }


def connect(url: str, config: OnlineConfig) -> SyncClient:
    """A synchronous client for ``url`` (nothing is sent until first use)."""
    with translate(url):
        if config.cluster:
            return redis.cluster.RedisCluster.from_url(
                url,
                socket_timeout=config.socket_timeout,
                socket_connect_timeout=config.socket_timeout,
                max_connections=config.max_connections,
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            )
        return redis.Redis.from_url(
            url, retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 1), **_options(config)
        )


def connect_async(url: str, config: OnlineConfig) -> AsyncClient:
    """An asyncio client for ``url`` (redis.asyncio, parsed by hiredis when installed)."""
    from redis.asyncio.retry import Retry as AsyncRetry

    with translate(url):
        if config.cluster:
            return redis.asyncio.cluster.RedisCluster.from_url(
                url,
                socket_timeout=config.socket_timeout,
                socket_connect_timeout=config.socket_timeout,
                max_connections=config.max_connections,
                retry=AsyncRetry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            )
        return redis.asyncio.Redis.from_url(
            url, retry=AsyncRetry(ExponentialBackoff(cap=0.5, base=0.05), 1), **_options(config)
        )


def roundtrip(client: SyncClient, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """Send ``commands`` pipelined in one round trip; replies in order, errors as exceptions.

    On a single server this writes the packed commands on one pooled connection and reads the
    replies, skipping redis-py's per-command pipeline bookkeeping (a third of a small read's
    client time); a cluster client splits them into one pipeline per node.
    """
    if not commands:
        return []
    if not isinstance(client, redis.Redis):
        pipe: Any = cast(Any, client).pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        replies: list[Any] = pipe.execute(raise_on_error=False)
        return replies
    pool = client.connection_pool
    for attempt in (1, 2):
        conn: Any = pool.get_connection()
        try:
            conn.send_packed_command(_pack(conn, commands))
            return [_reply(conn) for _ in commands]
        except redis.ConnectionError:
            # A pooled connection can be stale (server restarted): retry once on a fresh one.
            conn.disconnect()
            if attempt == 2:
                raise
        except BaseException:
            conn.disconnect()  # unread replies would desync the pooled socket
            raise
        finally:
            pool.release(conn)
    raise AssertionError("unreachable")


def stream(client: SyncClient, chunks: Sequence[Sequence[Sequence[Any]]]) -> Iterator[list[Any]]:
    """Send chunks of commands keeping one chunk in flight; yield each chunk's replies.

    While the server runs chunk k the client packs and sends chunk k + 1, so a large write
    costs about max(client, server) time rather than their sum. Replies are small and Redis
    buffers them, so the unread replies of the chunk in flight cannot stall the sender.
    """
    if not isinstance(client, redis.Redis):
        for chunk in chunks:
            yield roundtrip(client, chunk)
        return
    pool = client.connection_pool
    conn: Any = pool.get_connection()
    try:
        pending: Sequence[Sequence[Any]] = ()
        for chunk in chunks:
            conn.send_packed_command(_pack(conn, chunk))
            if pending:
                yield [_reply(conn) for _ in pending]
            pending = chunk
        if pending:
            yield [_reply(conn) for _ in pending]
    except BaseException:
        conn.disconnect()  # unread replies would desync the pooled socket
        raise
    finally:
        pool.release(conn)


def _pack(conn: Any, commands: Sequence[Sequence[Any]]) -> Any:
    if _hiredis_pack is None:
        return conn.pack_commands(commands)
    # hiredis's C packer directly: redis-py's wrapper around it costs 3x the packing itself,
    # and packing is most of a large write's client time.
    return [b"".join([_hiredis_pack(tuple(command)) for command in commands])]


def _reply(conn: Any) -> Any:
    try:
        return conn.read_response()
    except redis.ResponseError as exc:
        return exc


def describe(exc: BaseException) -> str:
    """A one-line reason for a redis-py or socket error."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


@contextmanager
def translate(url: str) -> Iterator[None]:
    """Turn any redis-py or socket error raised inside into an OnlineStoreError naming ``url``.

    Raises:
        OnlineStoreError: the server is unreachable, timed out, or rejected a command.
    """
    try:
        yield
    except OnlineStoreError:
        raise
    except (redis.RedisError, redis.exceptions.RedisClusterException, OSError) as exc:
        raise OnlineStoreError(f"online store {mask_url(url)}: {describe(exc)}") from exc
