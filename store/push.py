"""Streaming push: rows land now, are appended to the view's offline side, and CAS-written online.

Pushed rows are kept as Parquet files under ``<data_dir>/push/<view>/``, which the offline
engine reads as part of the view's source, so training frames built afterwards see them by the
same rule. The online values are computed by the offline rule itself, evaluated over just the
pushed rows, so expressions, lateness and ttl apply exactly as they do in training.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from store.aggregation import AggregationView
from store.definitions import FeatureView, ParquetSource
from store.errors import PushError
from store.offline.aggregate import tiles_at
from store.offline.engine import OfflineEngine
from store.offline.retrieval import snapshot
from store.online.store import OnlineStore

PUSH_DIR = "push"
_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class PushResult:
    """What a push did."""

    view: str
    rows: int
    written: int
    skipped_older: int
    dropped_late: int
    path: Path


def push_dir(data_dir: Path, view: str) -> Path:
    """Where pushed rows of ``view`` are kept."""
    return data_dir / PUSH_DIR / view


def push_rows(
    offline: OfflineEngine,
    online: OnlineStore,
    view: FeatureView,
    version: str,
    rows: pd.DataFrame | pa.Table | str | Path | Sequence[Mapping[str, Any]],
    *,
    now: datetime | None = None,
) -> PushResult:
    """Validate ``rows`` against ``view``'s source, stamp them landed ``now``, append, write.

    Raises:
        PushError: the view cannot take pushes, or a column is missing, unknown or mistyped.
    """
    source = view.source
    if not isinstance(source, ParquetSource) or source.created_timestamp is None:
        raise PushError(
            f"feature view {view.name!r}: push needs a ParquetSource with a created_timestamp "
            "column (to record when pushed rows landed); add created_timestamp= to its source"
        )
    table = _as_table(rows, view)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    schema = offline.source_schema(view)
    table = _conform(table, schema, view, _partition_columns(offline, view), now)
    path = _append(table, push_dir(offline.data_dir, view.name), now)
    dropped = _late_rows(table, view, source.event_timestamp, now)
    if isinstance(view, AggregationView):
        # Tiles are recomputed from the source (absolute values, never increments) for the keys
        # with a row visible from now: a retried or reordered push cannot count anything twice.
        tiles = tiles_at(offline, view, now + _US, changed_since=now)
        keys, stale = online.write_tiles(view, version, now + _US, tiles)
        return PushResult(view.name, table.num_rows, keys, stale, dropped, path)

    # The offline rule over just the pushed rows, read when they become visible.
    pushed = dataclasses.replace(
        view,
        name=f"{view.name}__pushed",
        source=dataclasses.replace(source, path=str(path)),
    )
    as_of = now + view.availability_delay + timedelta(microseconds=1)
    values = snapshot(offline, pushed, as_of)
    written = skipped = 0
    for batch in values:
        if batch.num_rows:
            stats = online.write(view, version, pa.Table.from_batches([batch]))
            written, skipped = written + stats.written, skipped + stats.skipped_older
    return PushResult(view.name, table.num_rows, written, skipped, dropped, path)


def _as_table(rows: object, view: FeatureView) -> pa.Table:
    if isinstance(rows, pa.Table):
        return rows
    if isinstance(rows, pd.DataFrame):
        return pa.Table.from_pandas(rows, preserve_index=False)
    if isinstance(rows, str | Path):
        path = Path(rows)
        if not path.is_file():
            raise PushError(f"push to {view.name!r}: file {path} not found")
        try:
            return pcsv.read_csv(path) if path.suffix == ".csv" else pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise PushError(f"push to {view.name!r}: cannot read {path}: {exc}") from exc
    if isinstance(rows, Sequence) and all(isinstance(r, Mapping) for r in rows):
        try:
            return pa.Table.from_pylist([dict(r) for r in rows])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise PushError(f"push to {view.name!r}: rows have mixed types: {exc}") from exc
    raise PushError(
        f"push to {view.name!r}: rows must be a DataFrame, an Arrow table, a Parquet/CSV path "
        "or a list of dicts"
    )


def _conform(
    table: pa.Table,
    schema: pa.Schema,
    view: FeatureView,
    partitions: set[str],
    now: datetime,
) -> pa.Table:
    source = view.source
    assert isinstance(source, ParquetSource)
    where = f"push to {view.name!r}"
    if table.num_rows == 0:
        raise PushError(f"{where}: no rows")
    created = source.created_timestamp
    assert created is not None
    unknown = [c for c in table.column_names if c not in schema.names and c != created]
    if unknown:
        raise PushError(f"{where}: unknown column(s) {unknown}; the source has {schema.names}")
    columns: dict[str, pa.Array] = {}
    for field in schema:
        if field.name == created:
            columns[created] = pa.array([now] * table.num_rows, field.type)
            continue
        if field.name not in table.column_names:
            if field.name in partitions:
                continue
            raise PushError(f"{where}: missing column {field.name!r} (a {field.type} column)")
        col = table.column(field.name)
        try:
            columns[field.name] = col.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise PushError(
                f"{where}: column {field.name!r} is {col.type}, cannot be read as {field.type}: "
                f"{exc}"
            ) from exc
    required = [*view.join_keys, source.event_timestamp]
    for name in required:
        nulls = columns[name].null_count
        if nulls:
            first = pc.index(pc.is_null(columns[name]), True).as_py()
            raise PushError(f"{where}: column {name!r} has {nulls} null(s), first at row {first}")
    return pa.table(columns)


def _partition_columns(offline: OfflineEngine, view: FeatureView) -> set[str]:
    """Hive partition columns come from folder names (``day=2026-11-01``), not from rows."""
    where = offline.source_files(view)
    if not where.hive:
        return set()
    root = Path(view.source.path)  # type: ignore[union-attr]
    root = root if root.is_absolute() else offline.repo / root
    return {
        part.split("=", 1)[0]
        for f in where.files
        if f.is_relative_to(root)
        for part in f.relative_to(root).parts[:-1]
        if "=" in part
    }


def _append(table: pa.Table, folder: Path, now: datetime) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"{stamp}-{uuid.uuid4().hex[:8]}.parquet"
    tmp = folder / f".{path.name}.tmp"
    pq.write_table(table, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)  # readers see the whole file or none of it
    return path


def _late_rows(table: pa.Table, view: FeatureView, event_col: str, now: datetime) -> int:
    if view.allowed_lateness is None:
        return 0
    limit = pa.scalar(now - view.allowed_lateness, table.column(event_col).type)
    return int(pc.sum(pc.less(table.column(event_col), limit)).as_py() or 0)
