"""Training frames and snapshots: the point-in-time rule applied by DuckDB.

Both go through :func:`store.offline.plan.point_in_time`: a snapshot at ``as_of`` is a training
frame whose entity rows are the source's keys, all at ``t = as_of``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from store.definitions import FeatureView
from store.errors import EntityFrameError
from store.offline import plan
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
            join on event time alone (one more join, without the feature columns).

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
        taken = set(frame.columns) & {out for o in outputs.values() for out in o.values()}
        if taken:
            raise EntityFrameError(
                f"entity frame already has column(s) {sorted(taken)} that features would be "
                "written to; rename them or use full_feature_names=True"
            )
        sources = {v.name: engine.source_sql(v) for v in views}
        stats = {
            v.name: _stats(con, v, sources[v.name], frame.sql(), leakage_report) for v in views
        }
        joined = frame.sql()
        done: list[str] = []
        for view in views:
            keep = [c for c in frame.columns if out_path] + [AS_OF] + done
            keep += [key_alias(k) for k in frame.keys]
            joined = plan.point_in_time(
                view, sources[view.name], joined, outputs[view.name], keep=keep
            )
            done += list(outputs[view.name].values())
        manifest = build_manifest(engine, views, refs, frame, stats, full_feature_names)
        if out_path is not None:
            table = None
            _copy(con, frame, joined, done, Path(out_path), started, manifest)
        else:
            table = _collect(con, frame, joined, done, views, outputs)
    finally:
        con.close()
    manifest["build_seconds"] = round(time.perf_counter() - started, 3)
    beyond = {name: s.beyond_watermark for name, s in stats.items()}
    return TrainingFrame(table=table, path=out_path, manifest=manifest, beyond_watermark=beyond)


def _stats(con: object, view: FeatureView, source: str, ents: str, full: bool) -> ViewStats:
    import duckdb

    assert isinstance(con, duckdb.DuckDBPyConnection)
    if full:
        sql = plan.leakage_counts(view, source, ents)
    else:
        mark = f"(SELECT max({CREATED_TS}) FROM ({source}) AS w)"
        sql = f"SELECT count(*), NULL, NULL, NULL, count(*) FILTER (WHERE {AS_OF} > {mark} OR {mark} IS NULL) FROM ({ents})"
    with duck_errors(f"feature view {view.name!r}: counting leakage"):
        row = con.execute(sql).fetchall()[0]
    assert row is not None
    return ViewStats(
        rows=int(row[0]),
        changed_vs_naive=None if row[1] is None else int(row[1]),
        naive_not_landed=None if row[2] is None else int(row[2]),
        naive_too_late=None if row[3] is None else int(row[3]),
        beyond_watermark=int(row[4]),
    )


def _collect(
    con: object,
    frame: EntityFrame,
    joined: str,
    done: list[str],
    views: list[FeatureView],
    outputs: dict[str, dict[str, str]],
) -> pa.Table:
    import duckdb

    assert isinstance(con, duckdb.DuckDBPyConnection)
    sql = f"SELECT {idents(done)} FROM ({joined}) ORDER BY {ROW_ID}"
    with duck_errors("building the training frame"):
        result = con.sql(sql).to_arrow_table()
    base = frame.table
    assert base is not None or frame.path is not None
    if base is None:
        import pyarrow.parquet as pq

        base = pq.read_table(frame.path)
    types = {
        out: view.field(feat).type.arrow
        for view in views
        for feat, out in outputs[view.name].items()
    }
    for name in done:
        base = base.append_column(pa.field(name, types[name]), result[name].cast(types[name]))
    return base


def _copy(
    con: object,
    frame: EntityFrame,
    joined: str,
    done: list[str],
    out_path: Path,
    started: float,
    manifest: dict[str, object],
) -> None:
    import json

    import duckdb

    assert isinstance(con, duckdb.DuckDBPyConnection)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    manifest["build_seconds"] = round(time.perf_counter() - started, 3)
    blob = quote_literal(json.dumps(manifest, sort_keys=True, default=str))
    cols = idents([*frame.columns, *done])
    sql = (
        f"COPY (SELECT {cols} FROM ({joined}) ORDER BY {ROW_ID}) TO "
        f"{quote_literal(str(out_path))} (FORMAT parquet, KV_METADATA {{'parity.manifest': {blob}}})"
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
        source = engine.source_sql(view)
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
        joined = plan.point_in_time(view, source, ents, outputs, keep=[key_alias(k) for k in keys])
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
