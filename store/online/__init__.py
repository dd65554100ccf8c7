"""Redis online store: key layout, codec, compare-and-set writes, reads, embedded server.

The facade uses :class:`OnlineStore` (and :class:`AsyncOnlineStore` in the feature server);
the layout is documented in ``docs/online.md``.
"""

from __future__ import annotations

from store.online.codec import CodecError, decode, encode, encode_column
from store.online.connection import mask_url
from store.online.embedded import ensure_embedded, is_running, stop_embedded
from store.online.reader import FeatureValues, ReadResult, Status, ViewRead
from store.online.store import AsyncOnlineStore, OnlineStore
from store.online.writer import CREATED_TS, EVENT_TS, WriteStats

__all__ = [
    "CREATED_TS",
    "EVENT_TS",
    "AsyncOnlineStore",
    "CodecError",
    "FeatureValues",
    "OnlineStore",
    "ReadResult",
    "Status",
    "ViewRead",
    "WriteStats",
    "decode",
    "encode",
    "encode_column",
    "ensure_embedded",
    "is_running",
    "mask_url",
    "stop_embedded",
]
