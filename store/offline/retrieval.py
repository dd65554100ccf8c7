"""Training frames and snapshots: the point-in-time rule applied by DuckDB.

Both go through :func:`store.offline.plan.point_in_time`: a snapshot at ``as_of`` is a training
frame whose entity rows are the source's keys, all at ``t = as_of``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from store.aggregation import AggregationView
from store.definitions import FeatureView
from store.errors import EntityFrameError
from store.offline import plan
from store.offline.aggregate import aggregate_join
from store.offline.engine import OfflineEngine, duck_errors
from store.offline.entity import EntityFrame, load_entities
from store.offline.manifest import ViewStats, build_manifest
from store.offline.sql import (
    AS_OF,
    CREATED_TS,
    EVENT_TS,
    ROW_ID,
    VIS_TS,
    idents,
    key_alias,
    quote_ident,
    quote_literal,
    ts_literal,
)
from store.registry import Definitions, FeatureRef
from store.training_frame import TrainingFrame

_TS_TYPE = pa.timestamp("us", tz="UTC")


def get_historical_features(
    engine: OfflineEngine,
    defs: Definitions,
    refs: list[FeatureRef],
    entity_df: pd.DataFrame | pa.Table | str | Path,
    *,
    full_feature_names: bool = False,
    out_path: Path | None = None,
    leakage_report: bool = True,
) -> TrainingFrame:
    """Join each entity row with the requested features by the point-in-time rule.

    Args:
        engine: the offline engine of the repo.
        defs: the repo's definitions.
        refs: resolved features (see ``store.registry.resolve_features``).
        entity_df: join keys + ``event_timestamp`` (+ other columns, passed through); a pandas
            DataFrame, a pyarrow Table or the path of a Parquet file.
        full_feature_names: recorded in the manifest (output names come from ``refs``).
        out_path: stream the result to this Parquet file (no pandas, bounded memory).
        leakage_report: count, per view, what the leakage guard and watermark changed versus a
            join on event time alone (from the join's own stage tables: a pass over the few
            entity rows whose latest row was not usable or tied).

    Returns:
        The frame, in the entity frame's row order, with its manifest.

    Raises:
        EntityFrameError: the entity frame is malformed (checked before any heavy work).
        SourceError, OfflineStoreError: a source is missing or DuckDB failed.
    """
    started = time.perf_counter()
    outputs: dict[str, dict[str, str]] = {}
    for ref in refs:
        outputs.setdefault(ref.view, {})[ref.feature] = ref.output
    views = [defs.view(name) for name in outputs]
    con = engine.connect(views)
    try:
        frame = load_entities(con, entity_df, views)
        _check_outputs(frame, outputs)
        sources = {v.name: engine.source_sql(v, con=con) for v in views}
        joined, done = frame.sql(), list[str]()
        leakage: dict[str, tuple[object, ...]] = {}
        # In memory the original columns are re-attached from the input, untouched.
        carried = frame.columns if out_path is not None else []
        for i, view in enumerate(views):
            keep = [*carried, AS_OF, *done] + [key_alias(k) for k in frame.keys]
            if isinstance(view, AggregationView):
                joined = aggregate_join(
                    view, sources[view.name], joined, keep=keep, outputs=outputs[view.name]
                )
            else:
                staged = plan.point_in_time(
                    view,
                    sources[view.name],
                    joined,
                    outputs[view.name],
                    keep=keep,
                    chosen=None,
                    prefix=f"__pit{i}_",
                )
                with duck_errors(f"feature view {view.name!r}: point-in-time join"):
                    for name, sql in staged.tables:
                        con.execute(f"CREATE TEMP TABLE {name} AS {sql}").fetchall()
                    if leakage_report:
                        leakage[view.name] = tuple(con.execute(staged.leakage).fetchall()[0])
                joined = staged.query
            done += list(outputs[view.name].values())
        stats = {v.name: _stats(con, v, sources[v.name], frame, leakage.get(v.name)) for v in views}
        manifest = build_manifest(engine, views, refs, frame, stats, full_feature_names)
        manifest["build_seconds"] = round(time.perf_counter() - started, 3)
        table = None
        if out_path is not None:
            _copy(con, joined, [*frame.columns, *done], Path(out_path), manifest)
        else:
            table = _collect(con, joined, frame, done, views, outputs)
    finally:
        con.close()
    manifest["build_seconds"] = round(time.perf_counter() - started, 3)
    beyond = {name: s.beyond_watermark for name, s in stats.items()}
    return TrainingFrame(table=table, path=out_path, manifest=manifest, beyond_watermark=beyond)


def _check_outputs(frame: EntityFrame, outputs: dict[str, dict[str, str]]) -> None:
    taken = set(frame.columns) & {out for o in outputs.values() for out in o.values()}
    if taken:
        raise EntityFrameError(
            f"entity frame already has column(s) {sorted(taken)} that features would be "
            "written to; rename them or use full_feature_names=True"
        )


def _stats(
    con: duckdb.DuckDBPyConnection,
    view: FeatureView,
    source: str,
    frame: EntityFrame,
    leak: tuple[object, ...] | None,
) -> ViewStats:
    """The view's watermark, entity rows beyond it, and its leakage counts (None: not
    counted; an aggregation chooses no single row, so they do not apply)."""
    with duck_errors(f"feature view {view.name!r}: reading the watermark"):
        mark = con.execute(f"SELECT max({CREATED_TS}) FROM ({source})").fetchall()[0][0]
        after = f"{AS_OF} > {ts_literal(mark)}" if isinstance(mark, datetime) else "true"
        sql = f"SELECT count(*) FILTER (WHERE {after}) FROM ({frame.sql()})"
        beyond = con.execute(sql).fetchall()[0][0]
    leak = leak or (None,) * 5
    return ViewStats(
        changed_vs_naive=_int(leak[0]),
        naive_too_late=_int(leak[1]),
        naive_not_landed=_int(leak[2]),
        unexplained=_int(leak[3]),
        too_late_and_not_landed=_int(leak[4]),
        beyond_watermark=int(beyond),
        watermark=mark if isinstance(mark, datetime) else None,
    )


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _collect(
    con: duckdb.DuckDBPyConnection,
    joined: str,
    frame: EntityFrame,
    done: list[str],
    views: list[FeatureView],
    outputs: dict[str, dict[str, str]],
) -> pa.Table:
    sql = f"SELECT {idents(done)} FROM ({joined}) AS r ORDER BY {ROW_ID}"
    with duck_errors("building the training frame"):
        result = con.sql(sql).to_arrow_table()
    base = frame.table if frame.table is not None else pq.read_table(frame.path)
    types = {
        out: view.field(feat).type.arrow
        for view in views
        for feat, out in outputs[view.name].items()
    }
    for name in done:
        base = base.append_column(pa.field(name, types[name]), result[name].cast(types[name]))
    return base


def _copy(
    con: duckdb.DuckDBPyConnection,
    joined: str,
    columns: list[str],
    out_path: Path,
    manifest: dict[str, Any],
) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    blob = quote_literal(json.dumps(manifest, sort_keys=True, default=str))
    options = f"FORMAT parquet, KV_METADATA {{'parity.manifest': {blob}}}"
    sql = (
        f"COPY (SELECT {idents(columns)} FROM ({joined}) AS r ORDER BY {ROW_ID}) "
        f"TO {quote_literal(str(out_path))} ({options})"
    )
    with duck_errors(f"writing the training frame to {out_path}"):
        con.execute(sql).fetchall()


def snapshot(
    engine: OfflineEngine,
    view: FeatureView,
    as_of: datetime,
    *,
    changed_since: datetime | None = None,
) -> pa.RecordBatchReader:
    """Every key's value at ``t = as_of`` by the offline rule (what materialization writes).

    Args:
        engine: the offline engine.
        view: the feature view.
        as_of: the time the values are read at.
        changed_since: only keys with a row that became visible in ``[changed_since, as_of)``
            (visibility ``max(event_ts, created_ts + delay)``, i.e. by ingestion time, so late
            rows and same-event-time corrections are included).

    Returns:
        Batches with the join keys, the features (declared types), ``__event_ts`` and
        ``__created_ts`` of the chosen row; keys with nothing visible (or expired) are left out.
    """
    keys = list(view.join_keys)
    outputs = {name: name for name in view.feature_names}
    con = engine.connect([view])
    try:
        source = engine.source_sql(view, con=con)
        cand = plan.candidates(view, source)
        where = ""
        if changed_since is not None:
            lo, hi = ts_literal(changed_since), ts_literal(as_of)
            where = f"WHERE {VIS_TS} >= {lo} AND {VIS_TS} < {hi}"
        casts = ", ".join(
            f"CAST({quote_ident(k)} AS {t.duckdb}) AS {quote_ident(key_alias(k))}"
            for k, t in view.join_keys.items()
        )
        ents = (
            f"SELECT row_number() OVER () AS {ROW_ID}, {casts}, {ts_literal(as_of)} AS {AS_OF} "
            f"FROM (SELECT DISTINCT {idents(keys)} FROM ({cand}) AS c {where}) AS k"
        )
        keep = [key_alias(k) for k in keys]
        joined = plan.point_in_time(view, source, ents, outputs, keep=keep).as_query()
        cols = [f"{quote_ident(key_alias(k))} AS {quote_ident(k)}" for k in keys]
        cols += [quote_ident(n) for n in view.feature_names] + [EVENT_TS, CREATED_TS]
        sql = f"SELECT {', '.join(cols)} FROM ({joined}) WHERE {EVENT_TS} IS NOT NULL"
        with duck_errors(f"feature view {view.name!r}: snapshot at {as_of.isoformat()}"):
            reader = con.sql(sql).to_arrow_reader()
    except BaseException:
        con.close()
        raise
    fields = [pa.field(k, t.arrow) for k, t in view.join_keys.items()]
    fields += [pa.field(f.name, f.type.arrow) for f in view.fields]
    fields += [pa.field(EVENT_TS, _TS_TYPE), pa.field(CREATED_TS, _TS_TYPE)]
    schema = pa.schema(fields)

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            with duck_errors(f"feature view {view.name!r}: snapshot at {as_of.isoformat()}"):
                for batch in reader:
                    yield batch.cast(schema)
        finally:
            con.close()

    return pa.RecordBatchReader.from_batches(schema, batches())
