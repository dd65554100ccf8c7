"""Raw online reads for the audits: stored payloads and row metadata, not judged statuses.

The audits compare what Redis holds bit for bit with the offline rule, so they need the
stored bytes (``_e``, ``_c``, ``_v`` and feature payloads) rather than the reader's decoded,
status-judged values, and they need every key of a view (SCAN), not only requested ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

import hiredis
import redis

from store.online.connection import SyncClient, stream

META_FIELDS = (b"_e", b"_c", b"_v")


def hmget_many(
    client: SyncClient, keys: Sequence[bytes], fields: Sequence[bytes], *, chunk_size: int = 5000
) -> list[list[bytes | None]]:
    """``HMGET key *fields`` for every key, pipelined in chunks with one chunk in flight."""
    chunks = [
        [("HMGET", key, *fields) for key in keys[i : i + chunk_size]]
        for i in range(0, len(keys), chunk_size)
    ]
    out: list[list[bytes | None]] = []
    replies_of = _bulk if isinstance(client, redis.Redis) else stream
    for replies in replies_of(client, chunks):
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
            out.append(reply)
    return out


def scan_keys(client: SyncClient, pattern: str, *, count: int = 5000) -> Iterator[bytes]:
    """Every key matching ``pattern``; redis-py's cluster client scans every primary node."""
    yield from cast(Any, client).scan_iter(match=pattern, count=count)


def _bulk(client: SyncClient, chunks: Sequence[Sequence[Sequence[Any]]]) -> Iterator[list[Any]]:
    """:func:`store.online.connection.stream` with replies parsed by hiredis straight off the
    socket: redis-py's per-reply ``read_response`` costs more than the server's HMGET when an
    audit reads a million keys."""
    pool = cast(redis.Redis, client).connection_pool
    conn: Any = pool.get_connection()
    try:
        sock = conn._sock  # connected by get_connection; its parser buffer is empty
        reader = hiredis.Reader()
        pending = 0
        for chunk in chunks:
            sock.sendall(b"".join([hiredis.pack_command(tuple(c)) for c in chunk]))
            if pending:
                yield _read(sock, reader, pending)
            pending = len(chunk)
        if pending:
            yield _read(sock, reader, pending)
    except BaseException:
        conn.disconnect()  # unread replies would desync the pooled socket
        raise
    finally:
        pool.release(conn)


def _read(sock: Any, reader: Any, n: int) -> list[Any]:
    out: list[Any] = []
    while len(out) < n:
        reply = reader.gets()
        if reply is False:
            data = sock.recv(1 << 20)
            if not data:
                raise redis.ConnectionError("connection closed by the server")
            reader.feed(data)
        elif isinstance(reply, hiredis.ReplyError):
            out.append(redis.ResponseError(str(reply)))
        else:
            out.append(reply)
    return out
