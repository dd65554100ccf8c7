"""Entity frames (training requests): loading, checking, and their SQL relation.

An entity frame is registered in DuckDB with a ``__rid`` column (its row number), so the
result can be put back in the frame's order. Everything a request can get wrong is checked here,
before any heavy work, and raised as :class:`EntityFrameError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from store.definitions import FeatureView
from store.errors import EntityFrameError
from store.offline.engine import duck_errors
from store.offline.sql import AS_OF, ROW_ID, key_alias, quote_ident, quote_literal, to_utc_us
from store.types import ValueType, compatible

TIMESTAMP_COLUMN = "event_timestamp"
_TABLE = "__parity_entities"


@dataclass(frozen=True)
class EntityFrame:
    """A registered entity frame: its original columns and the SQL of its rows."""

    table: pa.Table | None
    path: Path | None
    schema: pa.Schema
    raw_sql: str
    keys: dict[str, ValueType]
    rows: int

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def sql(self) -> str:
        """``__rid``, the original columns, ``__key_<k>`` (declared types) and ``__t`` (UTC)."""
        ts_type = _duck_ts_type(self.schema.field(TIMESTAMP_COLUMN).type)
        t = to_utc_us(quote_ident(TIMESTAMP_COLUMN), ts_type)
        keys = [
            f"CAST({quote_ident(k)} AS {vt.duckdb}) AS {quote_ident(key_alias(k))}"
            for k, vt in self.keys.items()
        ]
        return f"SELECT *, {', '.join([*keys, f'{t} AS {AS_OF}'])} FROM ({self.raw_sql}) AS raw"


def load_entities(
    con: duckdb.DuckDBPyConnection,
    entity_df: pd.DataFrame | pa.Table | str | Path,
    views: list[FeatureView],
) -> EntityFrame:
    """Register ``entity_df`` in ``con`` and check it against the views' join keys."""
    table: pa.Table | None = None
    path: Path | None = None
    if isinstance(entity_df, str | Path):
        path = Path(entity_df)
        if not path.is_file():
            raise EntityFrameError(f"entity frame file {path} not found")
        try:
            schema = pq.read_schema(path)
            rows = pq.ParquetFile(path).metadata.num_rows
        except (OSError, pa.ArrowException) as exc:
            raise EntityFrameError(
                f"entity frame {path} is not a readable Parquet file: {exc}"
            ) from exc
        scan = f"read_parquet({quote_literal(str(path))}, file_row_number = true)"
        raw_sql = f"SELECT * EXCLUDE (file_row_number), file_row_number AS {ROW_ID} FROM {scan}"
    else:
        if isinstance(entity_df, pd.DataFrame):
            try:
                table = pa.Table.from_pandas(entity_df, preserve_index=False)
            except (pa.ArrowException, ValueError, TypeError) as exc:
                raise EntityFrameError(f"entity frame cannot be converted to Arrow: {exc}") from exc
        elif isinstance(entity_df, pa.Table):
            table = entity_df
        else:
            raise EntityFrameError(
                "entity_df must be a pandas DataFrame, a pyarrow Table or a Parquet path, "
                f"not {type(entity_df).__name__}"
            )
        schema, rows = table.schema, table.num_rows
        ids = pa.array(range(rows), pa.int64())
        con.register(_TABLE, table.append_column(ROW_ID, ids))
        raw_sql = f"SELECT * FROM {quote_ident(_TABLE)}"
    keys = _check_schema(schema, views)
    frame = EntityFrame(table, path, schema, raw_sql, keys, rows)
    _check_timestamps(con, frame)
    return frame


def _check_schema(schema: pa.Schema, views: list[FeatureView]) -> dict[str, ValueType]:
    names = set(schema.names)
    reserved = sorted(n for n in names if n.startswith("__"))
    if reserved:
        raise EntityFrameError(
            f"entity frame column(s) {reserved} start with '__', which is reserved; rename them"
        )
    if TIMESTAMP_COLUMN not in names:
        raise EntityFrameError(
            f"entity frame has no {TIMESTAMP_COLUMN!r} column (the as-of time of each row); "
            f"its columns are {sorted(names)}"
        )
    ts_type = schema.field(TIMESTAMP_COLUMN).type
    if not (pa.types.is_timestamp(ts_type) or pa.types.is_date(ts_type) or _is_string(ts_type)):
        raise EntityFrameError(
            f"entity frame column {TIMESTAMP_COLUMN!r} has type {ts_type}; "
            "it must hold timestamps (naive = UTC, or timezone-aware)"
        )
    keys: dict[str, ValueType] = {}
    for view in views:
        for key, vt in view.join_keys.items():
            if key not in names:
                raise EntityFrameError(
                    f"entity frame lacks join key column {key!r} of feature view {view.name!r}; "
                    f"its columns are {sorted(names)}"
                )
            actual = schema.field(key).type
            ok = compatible(vt, actual) or (vt.scalar == "string" and _is_string(actual))
            if not ok:
                raise EntityFrameError(
                    f"entity frame column {key!r} has type {actual} but feature view "
                    f"{view.name!r} declares it {vt}; convert the column"
                )
            if key in keys and keys[key] != vt:
                raise EntityFrameError(
                    f"join key {key!r} is declared {keys[key]} and {vt} by different views"
                )
            keys[key] = vt
    return keys


def _check_timestamps(con: duckdb.DuckDBPyConnection, frame: EntityFrame) -> None:
    sql = (
        f"SELECT count(*) FILTER (WHERE {AS_OF} IS NULL), "
        f"min({ROW_ID}) FILTER (WHERE {AS_OF} IS NULL) FROM ({frame.sql()})"
    )
    with duck_errors("reading the entity frame"):
        row = con.execute(sql).fetchall()[0]
    if row is not None and row[0]:
        raise EntityFrameError(
            f"entity frame column {TIMESTAMP_COLUMN!r} has {row[0]} null or unparsable value(s) "
            f"(first at row {row[1]}); every row needs an as-of time"
        )


def _is_string(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _duck_ts_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t) and t.unit == "ns":
        return "TIMESTAMP_NS"
    return "VARCHAR" if _is_string(t) else "TIMESTAMP"
