"""Offline as-of snapshot -> online store.

Values come from :func:`store.offline.retrieval.snapshot`, the same SQL builder that makes
training frames, evaluated at ``t = end``; they are written with the online store's
compare-and-set, so re-running is idempotent and an older value never replaces a newer one.
The committed watermark ``end`` is recorded per view only after every row of that view was
written: a crash mid-run leaves each entity's row either old or new (never a mix of the two
within one key), and the next run redoes the view from the previous committed watermark.

The committed watermark never moves backwards (a compare-and-set in Redis, like the values):
a run whose ``end`` is older than the committed one of the same version writes nothing and
says so (``superseded``); two runs at once (T2, then T1 started while T2 runs) leave T2
committed, and their values are compare-and-set, so neither undoes the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from store.aggregation import AggregationView
from store.definitions import FeatureView
from store.offline.aggregate import tiles_at
from store.offline.engine import OfflineEngine
from store.offline.retrieval import snapshot
from store.online.store import OnlineStore

Progress = Callable[[str, int], None]
"""Called with (view name, rows written so far)."""


@dataclass(frozen=True)
class MaterializeResult:
    """What one view's materialization did."""

    view: str
    version: str
    end: datetime
    start: datetime | None
    rows: int
    written: int
    skipped_older: int
    skipped_expired: int
    seconds: float
    superseded: bool = False
    """True when a newer watermark of the same version was already committed (before the run:
    nothing was written; or by a concurrent run: the watermark was left where it was)."""


def materialize_view(
    offline: OfflineEngine,
    online: OnlineStore,
    view: FeatureView,
    version: str,
    end: datetime,
    *,
    start: datetime | None = None,
    progress: Progress | None = None,
) -> MaterializeResult:
    """Write the offline rule's value at ``t = end`` for every key of ``view``.

    With ``start``, only keys with a row that became visible at or after ``start`` are
    considered (selection by ingestion time, so late rows and corrections are included).
    """
    import time

    began = time.perf_counter()
    if _committed_at_or_after(online, view, version, end):
        return MaterializeResult(
            view.name, version, end, start, 0, 0, 0, 0, time.perf_counter() - began,
            superseded=True,
        )  # fmt: skip
    if isinstance(view, AggregationView):  # tiles as of end, whole per key (store/online/tiles.py)
        tiles = tiles_at(offline, view, end, changed_since=start)
        keys, stale = online.write_tiles(view, version, end, tiles)
        if progress is not None:
            progress(view.name, tiles.num_rows)
        moved = online.set_watermark(view, version, end)
        return MaterializeResult(
            view.name, version, end, start, tiles.num_rows, keys, stale, 0,
            time.perf_counter() - began, superseded=not moved,
        )  # fmt: skip
    reader = snapshot(offline, view, end, changed_since=start)
    rows = written = older = expired = 0
    for batch in reader:
        if batch.num_rows == 0:
            continue
        stats = online.write(view, version, pa.Table.from_batches([batch]))
        rows += batch.num_rows
        written += stats.written
        older += stats.skipped_older
        expired += stats.skipped_expired
        if progress is not None:
            progress(view.name, rows)
    moved = online.set_watermark(view, version, end)
    return MaterializeResult(
        view.name, version, end, start, rows, written, older, expired,
        time.perf_counter() - began, superseded=not moved,
    )  # fmt: skip


def _committed_at_or_after(
    online: OnlineStore, view: FeatureView, version: str, end: datetime
) -> bool:
    """Whether ``view`` at ``version`` is already committed at ``end`` or later."""
    mark = online.get_watermark(view)
    return mark is not None and mark[1] == version and mark[0] > end


def incremental_start(
    online: OnlineStore, view: FeatureView, version: str, end: datetime
) -> datetime | None:
    """Where an incremental run of ``view`` picks up: its last committed watermark, unless
    the view's version changed since (then everything is recomputed)."""
    mark = online.get_watermark(view)
    if mark is None:
        return None
    committed, committed_version = mark
    if committed_version != version or committed > end:
        return None
    return committed


def materialize_views(
    offline: OfflineEngine,
    online: OnlineStore,
    views: Sequence[tuple[FeatureView, str]],
    end: datetime,
    *,
    start: datetime | None = None,
    incremental: bool = False,
    progress: Progress | None = None,
) -> list[MaterializeResult]:
    """Materialize several views (each with its registry version) up to ``end``."""
    results = []
    for view, version in views:
        since = incremental_start(online, view, version, end) if incremental else start
        results.append(
            materialize_view(offline, online, view, version, end, start=since, progress=progress)
        )
    return results
