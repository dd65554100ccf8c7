"""Raw online reads for the audits: stored payloads and row metadata, not judged statuses.

The audits compare what Redis holds bit for bit with the offline rule, so they need the
stored bytes (``_e``, ``_c``, ``_v`` and feature payloads) rather than the reader's decoded,
status-judged values, and they need every key of a view (SCAN), not only requested ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

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
    for replies in stream(client, chunks):
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
            out.append(reply)
    return out


def scan_keys(client: SyncClient, pattern: str, *, count: int = 5000) -> Iterator[bytes]:
    """Every key matching ``pattern``; redis-py's cluster client scans every primary node."""
    yield from cast(Any, client).scan_iter(match=pattern, count=count)
