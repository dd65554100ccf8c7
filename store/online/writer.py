"""Batch compare-and-set writes of feature-view rows (``cas_write.lua``), pipelined in chunks.

Each row is one EVALSHA that touches one key, so a write is atomic per key and Cluster-safe.
Every value of a table is encoded before the first command is sent, so a bad value fails the
call with nothing written (a RecordBatchReader is checked batch by batch); a failure part-way
(server down) leaves each key either as it was or fully replaced, which a re-run repairs (the
write is idempotent).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from redis.exceptions import NoScriptError

from store.definitions import FeatureView
from store.errors import EntityFrameError, OnlineStoreError
from store.online.codec import CodecError, encode_column
from store.online.connection import (
    SyncClient,
    describe,
    mask_url,
    roundtrip,
    stream,
    translate,
)
from store.online.keys import entity_keys_from_table, full_keys, key_prefix, key_suffix

EVENT_TS = "__event_ts"
CREATED_TS = "__created_ts"
SCRIPT = resources.files("store.online").joinpath("cas_write.lua").read_text()
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()
_WRITTEN, _OLDER, _EXPIRED = 1, 0, 2


@dataclass
class WriteStats:
    """What a write did: rows written, rows kept back because a newer row is stored, and rows
    not written because their ttl had already run out."""

    written: int = 0
    skipped_older: int = 0
    skipped_expired: int = 0

    @property
    def skipped(self) -> int:
        """Rows not written, for either reason."""
        return self.skipped_older + self.skipped_expired

    @property
    def rows(self) -> int:
        return self.written + self.skipped_older + self.skipped_expired

    def add(self, other: WriteStats) -> None:
        self.written += other.written
        self.skipped_older += other.skipped_older
        self.skipped_expired += other.skipped_expired


def _micros_column(table: pa.Table, name: str) -> pa.Array:
    if name not in table.column_names:
        raise EntityFrameError(f"rows lack the {name!r} column")
    col = table.column(name).combine_chunks()
    if col.null_count:
        raise EntityFrameError(f"column {name!r} has nulls")
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    elif not pa.types.is_integer(col.type):
        raise EntityFrameError(f"column {name!r} must be a timestamp, got {col.type}")
    return col.cast(pa.int64())


def _as_text(col: pa.Array) -> list[bytes]:
    return col.cast(pa.string()).cast(pa.binary()).to_pylist()  # type: ignore[no-any-return]


def encode_rows(
    project: str, view: FeatureView, version: str, table: pa.Table, ttl: timedelta | None
) -> list[tuple[Any, ...]]:
    """The EVALSHA command of every row of ``table``: ``("EVALSHA", sha, 1, key, version,
    event_us, created_us, expire_at_ms, field, value, ...)``.

    Raises:
        EntityFrameError: a key or timestamp column is missing, null or of the wrong type.
        OnlineStoreError: never; encoding happens before anything is sent.
    """
    keys = full_keys(
        key_prefix(project), entity_keys_from_table(table, view.join_keys), key_suffix(view.name)
    )
    event = _micros_column(table, EVENT_TS)
    created = _micros_column(table, CREATED_TS)
    columns: list[list[bytes]] = []
    names: list[bytes] = []
    for f in view.fields:
        if f.name not in table.column_names:
            raise EntityFrameError(f"view {view.name!r}: rows lack feature column {f.name!r}")
        try:
            columns.append(encode_column(table.column(f.name), f.type))
        except CodecError as exc:
            raise EntityFrameError(f"view {view.name!r} feature {f.name!r}: {exc}") from None
        names.append(f.name.encode())
    if ttl is None:
        expire = [b"0"] * len(table)
    else:
        # Expire strictly after event_ts + ttl: a read at exactly that instant is still valid.
        ttl_us = ttl // timedelta(microseconds=1)
        expire_ms = pc.add(pc.divide(pc.add(event, ttl_us), 1000), 1)
        # At least 1 ms: "0" means no ttl to the script, and a pre-1970 expiry is long past.
        expire = _as_text(pc.max_element_wise(expire_ms, pa.scalar(1, pa.int64())))
    ver = version.encode()
    head = zip(keys, _as_text(event), _as_text(created), expire, strict=True)
    pairs = [
        [item for pair in zip(names, values, strict=True) for item in pair]
        for values in zip(*columns, strict=True)
    ]
    return [
        ("EVALSHA", SCRIPT_SHA, 1, key, ver, e, c, x, *fields)
        for (key, e, c, x), fields in zip(head, pairs, strict=True)
    ]


class Writer:
    """Compare-and-set writer for one project on one client."""

    def __init__(self, client: SyncClient, project: str, url: str) -> None:
        self._client = client
        self._project = project
        self._url = url
        self._loaded = False

    def load_script(self) -> None:
        """Load the CAS script into the server's script cache (every primary on a cluster)."""
        with translate(self._url):
            self._client.script_load(SCRIPT)
        self._loaded = True

    def write(
        self,
        view: FeatureView,
        version: str,
        data: pa.Table | pa.RecordBatchReader,
        *,
        ttl: timedelta | None = None,
        chunk_size: int = 2000,
    ) -> WriteStats:
        """Compare-and-set every row of ``data`` (join keys, features, ``__event_ts``,
        ``__created_ts``) as a row of ``view`` written by ``version``.

        Args:
            ttl: key expiry; default the view's ttl.
            chunk_size: rows per pipeline round trip.

        Raises:
            EntityFrameError: the rows do not match the view (nothing of a table is written;
                of a stream, the batches before the bad one are).
            OnlineStoreError: Redis failed; rows already sent are written, whole per key.
        """
        ttl = view.ttl if ttl is None else ttl
        stats = WriteStats()
        # A table is encoded whole, so a bad value anywhere fails before anything is sent; a
        # stream is encoded (and checked) one record batch at a time.
        tables = [data] if isinstance(data, pa.Table) else map(_batch_table, data)
        for table in tables:
            commands = encode_rows(self._project, view, version, table, ttl)
            chunks = [commands[i : i + chunk_size] for i in range(0, len(commands), chunk_size)]
            stats.add(self._send(chunks))
        return stats

    def _send(self, chunks: list[list[tuple[Any, ...]]]) -> WriteStats:
        if not self._loaded:
            self.load_script()
        stats = WriteStats()
        lost: list[tuple[Any, ...]] = []
        with translate(self._url):
            for chunk, replies in zip(chunks, stream(self._client, chunks), strict=True):
                lost += [cmd for cmd, reply in zip(chunk, replies, strict=True) if _noscript(reply)]
                self._count(replies, stats)
            if lost:
                # The server lost its script cache (restart, SCRIPT FLUSH, failover): reload
                # and resend those rows; re-applying a CAS write changes nothing.
                self.load_script()
                self._count(roundtrip(self._client, lost), stats)
        return stats

    def _count(self, replies: list[Any], stats: WriteStats) -> None:
        for reply in replies:
            if reply == _WRITTEN:
                stats.written += 1
            elif reply == _OLDER:
                stats.skipped_older += 1
            elif reply == _EXPIRED:
                stats.skipped_expired += 1
            elif not _noscript(reply):
                raise OnlineStoreError(
                    f"online store {mask_url(self._url)}: write failed: {describe(reply)}"
                )


def _batch_table(batch: pa.RecordBatch) -> pa.Table:
    return pa.Table.from_batches([batch])


def _noscript(reply: Any) -> bool:
    return isinstance(reply, NoScriptError)
