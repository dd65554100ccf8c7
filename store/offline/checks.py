"""Checks of a feature view against its source (used when definitions are applied)."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from store.definitions import FeatureView
from store.errors import DefinitionError, SourceError
from store.offline.engine import OfflineEngine, first_line
from store.offline.sql import FILE_IDX, ROW_NUM, field_sql
from store.types import compatible


def check_view(engine: OfflineEngine, view: FeatureView) -> None:
    """Raise DefinitionError naming the view, the column or expression, and the fix."""
    where = f"feature view {view.name!r} (source {view.source.describe()})"
    try:
        schema = engine.source_schema(view)
    except SourceError as exc:
        raise DefinitionError(f"{where}: {exc}") from exc
    types = {f.name: f.type for f in schema}
    _check_timestamps(view, types, where)
    for key, vt in view.join_keys.items():
        if key not in types:
            raise DefinitionError(
                f"{where}: join key column {key!r} not in source; columns are {sorted(types)}"
            )
        if not compatible(vt, types[key]):
            raise DefinitionError(
                f"{where}: join key {key!r} is {types[key]} in the source but declared {vt}; "
                "fix the entity's join_keys type or the data"
            )
    for field in view.fields:
        if field.expr is not None:
            continue
        if field.name not in types:
            raise DefinitionError(
                f"{where}: field {field.name!r} has no column of that name; add the column "
                f"or give the field an expr (columns are {sorted(types)})"
            )
        if not compatible(field.type, types[field.name]):
            raise DefinitionError(
                f"{where}: field {field.name!r} is {types[field.name]} in the source but "
                f"declared {field.type}; fix the Field type or the data"
            )
    _compile_exprs(engine, view, where)


def _check_timestamps(view: FeatureView, types: dict[str, pa.DataType], where: str) -> None:
    source = view.source
    for role, col in (
        ("event_timestamp", source.event_timestamp),
        ("created_timestamp", source.created_timestamp),
    ):
        if col is None:
            continue
        if col not in types:
            raise DefinitionError(
                f"{where}: {role} column {col!r} not in source; columns are {sorted(types)}"
            )
        kind = types[col]
        if not (pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_string(kind)):
            raise DefinitionError(
                f"{where}: {role} column {col!r} has type {kind}, not a timestamp; "
                "point the source at a timestamp column"
            )


def _compile_exprs(engine: OfflineEngine, view: FeatureView, where: str) -> None:
    exprs = [f for f in view.fields if f.expr is not None]
    if not exprs:
        return
    con = engine.connect([view])
    try:
        raw = engine.raw_sql(view)
        described = con.execute(f"DESCRIBE SELECT * FROM ({raw}) AS src").fetchall()
        columns = [r[0] for r in described if r[0] not in (FILE_IDX, ROW_NUM)]
        for field in exprs:
            expr = field_sql(view, field, columns=columns)
            sql = f"DESCRIBE SELECT CAST({expr} AS {field.type.duckdb}) FROM ({raw}) AS src"
            try:
                con.execute(sql).fetchall()
            except duckdb.Error as exc:
                raise DefinitionError(
                    f"{where}: field {field.name!r} expr {field.expr!r} does not compile "
                    f"against the source: {first_line(exc)}; fix the expression"
                ) from exc
    finally:
        con.close()
