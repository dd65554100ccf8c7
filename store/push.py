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
from store.convert import BadValue, to_array
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
    now = (now or datetime.now(UTC)).astimezone(UTC)
    schema = offline.source_schema(view)
    given = _as_columns(rows, view, schema)
    table = _conform(given, schema, view, _partition_columns(offline, view), now)
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


Columns = dict[str, pa.Array | pa.ChunkedArray | list[Any]]


def _as_columns(rows: object, view: FeatureView, schema: pa.Schema) -> Columns:
    """The pushed columns as given: Arrow columns, or Python values from a list of dicts."""
    if isinstance(rows, pd.DataFrame):
        rows = pa.Table.from_pandas(rows, preserve_index=False)
    if isinstance(rows, str | Path):
        rows = _read_file(Path(rows), view, schema)
    if isinstance(rows, pa.Table):
        return {name: rows.column(name) for name in rows.column_names}
    if isinstance(rows, Sequence) and not isinstance(rows, str | bytes):
        if not all(isinstance(r, Mapping) for r in rows):
            raise PushError(
                f"push to {view.name!r}: every row must be a mapping of column to value"
            )
        names = list(dict.fromkeys(name for r in rows for name in r))
        return {name: [r.get(name) for r in rows] for name in names}
    raise PushError(
        f"push to {view.name!r}: rows must be a DataFrame, an Arrow table, a Parquet/CSV path "
        "or a list of dicts"
    )


def _read_file(path: Path, view: FeatureView, schema: pa.Schema) -> pa.Table:
    if not path.is_file():
        raise PushError(f"push to {view.name!r}: file {path} not found")
    try:
        if path.suffix != ".csv":
            return pq.read_table(path)
        # CSV is text: each cell is parsed as its column's type (Arrow's CSV parser refuses
        # "7.5" for an integer column and a bare number for a timestamp column).
        types = {f.name: f.type for f in schema}
        return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=types))
    except (pa.ArrowInvalid, OSError) as exc:
        raise PushError(f"push to {view.name!r}: cannot read {path}: {exc}") from exc


def _conform(
    table: Columns,
    schema: pa.Schema,
    view: FeatureView,
    partitions: set[str],
    now: datetime,
) -> pa.Table:
    source = view.source
    assert isinstance(source, ParquetSource)
    where = f"push to {view.name!r}"
    n_rows = len(next(iter(table.values()))) if table else 0
    if n_rows == 0:
        raise PushError(f"{where}: no rows")
    created = source.created_timestamp
    assert created is not None
    unknown = [c for c in table if c not in schema.names and c != created]
    if unknown:
        raise PushError(f"{where}: unknown column(s) {unknown}; the source has {schema.names}")
    columns: dict[str, pa.Array] = {}
    for field in schema:
        if field.name == created:
            columns[created] = pa.array([now] * n_rows, field.type)
            continue
        if field.name not in table:
            if field.name in partitions:
                continue
            raise PushError(f"{where}: missing column {field.name!r} (a {field.type} column)")
        try:
            columns[field.name] = to_array(table[field.name], field.type)
        except BadValue as exc:
            raise PushError(f"{where}: row {exc.row}: column {field.name!r} {exc.detail}") from None
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
