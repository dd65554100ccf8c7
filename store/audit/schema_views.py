"""Schema checks of aggregation and on-demand views (rows in the shape of :mod:`schema`).

Aggregation view, per aggregation: the Arrow type of the column or expression that feeds it,
evaluated by DuckDB over the source, must read as the type the aggregation casts its input to
(``sum``, ``mean``, ``min``, ``max``, ``last``; ``count`` and ``count_distinct`` take any
type); the values read back online (tiles combined by the serving code, at the watermark) must
be of the declared output type; string outputs (``min``/``max``/``last``) must be values the
source has (unseen categories).

On-demand view: its function is run on a small sample of training-frame rows of its sources
(request data from the served-feature log; without any, the check is skipped and says why),
and each returned column must exist and read as its declared type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from store.aggregation import Aggregation, AggregationView
from store.audit.agg_parity import decode_entity_key
from store.audit.ondemand import logged_requests, source_keys
from store.audit.schema import CHUNK, MAX_EXAMPLES, _categories, sampled_keys, source_fits
from store.convert import convert_rows
from store.definitions import FeatureView, Field
from store.errors import StoreError
from store.offline.engine import OfflineEngine, duck_errors
from store.ondemand import OnDemandFeatureView
from store.online.keys import key_prefix, key_suffix
from store.online.reader import ViewRead
from store.online.store import OnlineStore
from store.registry import FeatureRef
from store.types import ValueType

_TYPED_INPUT = {"sum", "mean", "min", "max", "last"}
_PY: dict[str, tuple[type, ...]] = {
    "int32": (int,),
    "int64": (int,),
    "float32": (float,),
    "float64": (float,),
    "string": (str,),
    "bool": (bool,),
    "timestamp": (datetime,),
}


def value_fits(value: Any, vtype: ValueType) -> bool:
    """Whether a value read online is of ``vtype`` (null always fits; a bool is no int)."""
    if value is None:
        return True
    if vtype.is_list:
        return isinstance(value, list) and all(
            value_fits(v, ValueType(vtype.scalar)) for v in value
        )
    if isinstance(value, bool) and vtype.scalar != "bool":
        return False
    return isinstance(value, _PY[vtype.scalar])


def input_type(engine: OfflineEngine, view: AggregationView, agg: Aggregation) -> pa.DataType:
    """The Arrow type of an aggregation's column or expression over the raw source."""
    col = agg.column
    expr = agg.column_sql
    con = engine.connect([view])
    try:
        what = f"feature view {view.name!r}: aggregation {agg.name!r} input {col!r}"
        with duck_errors(what):
            sql = f"SELECT {expr} AS x FROM ({engine.raw_sql(view)}) AS src LIMIT 0"
            return con.sql(sql).to_arrow_table().schema.field("x").type
    finally:
        con.close()


def _online_values(
    online: OnlineStore, view: AggregationView, version: str, sample: int | None, at: datetime
) -> tuple[dict[str, list[Any]], list[dict[str, Any]], int, int]:
    """Values read back for every key (or the stable sample), the keys whose tiles cannot be
    read, and how many keys were read of how many online."""
    head, tail = len(key_prefix(online.project)), len(key_suffix(view.name))
    full, total = sampled_keys(online, view, sample)
    rows = [decode_entity_key(k[head:-tail], view.join_keys) for k in full]
    request = [ViewRead(view, version, view.feature_names)]
    values: dict[str, list[Any]] = {f: [] for f in view.feature_names}
    broken: list[dict[str, Any]] = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        try:
            batches = [online.read(request, chunk, at)]
        except (ValueError, TypeError, KeyError, IndexError):
            batches = []
            for row in chunk:  # find the keys whose tiles do not parse
                try:
                    batches.append(online.read(request, [row], at))
                except (ValueError, TypeError, KeyError, IndexError) as exc:
                    broken.append({"key": row, "error": f"{type(exc).__name__}: {exc}"})
        for result in batches:
            for col in result.columns:
                values[col.feature] += col.values
    return values, broken, len(rows), total


def _input_check(
    engine: OfflineEngine, view: AggregationView, agg: Aggregation
) -> tuple[pa.DataType | None, list[str]]:
    """The type of an aggregation's input, and why it does not fit (empty when it does)."""
    if agg.column == "*":
        return None, []
    try:
        src = input_type(engine, view, agg)
    except StoreError as exc:
        return None, [f"input {agg.column!r} does not evaluate: {exc}"]
    if agg.function in _TYPED_INPUT and not source_fits(src, agg.input_type.arrow):
        return src, [f"input {agg.column!r} is {src}, {agg.function} casts it to {agg.input_type}"]
    return src, []


def aggregation_rows(
    engine: OfflineEngine,
    online: OnlineStore,
    view: AggregationView,
    version: str,
    sample: int | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows (one per aggregation) and examples of one aggregation view."""
    mark = online.get_watermark(view)
    at = mark[0] if mark is not None else datetime.now(UTC)
    values, broken, read, total = _online_values(online, view, version, sample, at)
    rows, examples = [], []
    for b in broken[:MAX_EXAMPLES]:
        examples.append({"view": view.name, "feature": "*", "class": "online type", **b})
    for agg in view.aggregations:
        name, out = str(agg.name), agg.output_type
        src, reasons = _input_check(engine, view, agg)
        mismatch = bool(reasons)
        got = [v for v in values[name] if v is not None]
        bad = [v for v in got if not value_fits(v, out)]
        for v in bad[:MAX_EXAMPLES]:
            examples.append(
                {
                    "view": view.name,
                    "feature": name,
                    "class": "online type",
                    "declared": str(out),
                    "online": v,
                }
            )
        if bad:
            reasons.append(f"{len(bad)} online values are not {out}")
        if broken:
            reasons.append(f"{len(broken)} keys' tiles cannot be read")
        unseen: list[str] = []
        if out.scalar == "string" and agg.function in _TYPED_INPUT:
            strings = {v for v in got if isinstance(v, str)}
            unseen = sorted(strings - _categories(engine, view, name)) if strings else []
            for value in unseen[:MAX_EXAMPLES]:
                examples.append(
                    {
                        "view": view.name,
                        "feature": name,
                        "class": "unseen category",
                        "online": value,
                    }
                )
            if unseen:
                reasons.append(f"{len(unseen)} online categories not in the source")
        status = "alert" if mismatch or bad or broken else ("warn" if unseen else "ok")
        rows.append(
            {
                "view": view.name,
                "feature": name,
                "status": status,
                "count": len(bad) + len(unseen) + len(broken),
                "declared": str(out),
                "source": "rows" if agg.column == "*" else (None if src is None else str(src)),
                "source_mismatch": mismatch,
                "online_sampled": len(got),
                "online_type_mismatch": len(bad) + len(broken),
                "unseen_categories": len(unseen),
                "reasons": reasons,
                "input": f"{agg.function}({agg.column})",
            }
        )
    if rows:
        rows[0] |= {"keys_read": read, "keys_online": total}
    return rows, examples


OfflineFn = Callable[[pa.Table, list[str]], pa.Table]


def on_demand_rows(
    view: OnDemandFeatureView,
    source_views: Mapping[str, FeatureView],
    features: Sequence[tuple[str, str, ValueType]],
    rows: list[dict[str, Any]],
    at: datetime,
    offline_fn: OfflineFn,
    skipped: str | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run the function on training-frame inputs of ``rows`` at ``at`` and check its output.

    Args:
        view: the on-demand view.
        source_views: its source views by name.
        features: per input: (``view:feature`` reference, short name, declared type).
        rows: entity rows: join keys and any request data.
        at: the time the inputs are read at.
        offline_fn: the facade's training-frame path.
        skipped: a reason the function cannot be run (then one ``ok`` row says why: nothing
            is wrong, and its inputs are checked in their own views' rows).
    """
    base = {"view": view.name, "online_sampled": 0, "online_type_mismatch": 0}
    base["unseen_categories"] = 0
    if skipped is not None or not rows:
        reason = skipped or "no source rows to run the function on"
        note = f"not checked: {reason}"
        row = base | {"feature": "*", "status": "ok", "count": 0, "note": note}
        row |= {"source_mismatch": False, "not_checked": True, "reasons": [note]}
        return [row], []
    keys: dict[str, ValueType] = {}
    for v in source_views.values():
        keys |= v.join_keys
    types = keys | {f.name: f.type for f in view.request_fields}
    # Logged request data converted by the one conversion; rows that fit no type are left
    # out and counted: a warning here too, never a silent drop.
    rows, bad, first = convert_rows(rows, types)
    malformed: list[dict[str, Any]] = []
    if bad:
        note = f"{bad} logged request(s) not checked: a value does not fit its type ({first})"
        row = base | {"feature": "*", "status": "warn", "count": bad, "note": note}
        malformed.append(row | {"source_mismatch": False, "reasons": [note]})
    if not rows:
        note = f"not checked: no logged request whose values fit their types ({first})"
        row = base | {"feature": "*", "status": "warn", "count": bad, "note": note}
        row |= {"source_mismatch": False, "not_checked": True, "reasons": [note]}
        return [row], []
    entity = {c: pa.array([r[c] for r in rows], t.arrow) for c, t in types.items()}
    entity["event_timestamp"] = pa.array([at] * len(rows), pa.timestamp("us", tz="UTC"))
    frame = offline_fn(pa.table(entity), [ref for ref, _, _ in features])
    data: dict[str, Any] = {}
    for ref, short, vtype in features:
        column = frame.column(ref.replace(":", "__", 1))
        data[short] = column.cast(vtype.arrow).to_pandas()
    for f in view.request_fields:
        data[f.name] = pa.array([r[f.name] for r in rows], f.type.arrow).to_pandas()
    problem: str | None = None
    out: Any = None
    try:
        out = view.udf(pd.DataFrame(data, index=pd.RangeIndex(len(rows))))
    except Exception as exc:  # the user's function: any error is a finding, not a crash
        problem = f"function failed: {type(exc).__name__}: {exc}"
    if problem is None and (not isinstance(out, pd.DataFrame) or len(out) != len(rows)):
        problem = f"function must return a DataFrame of {len(rows)} rows, got {type(out).__name__}"
    result, examples = [], []
    for f in view.fields:
        found, reasons = (None, [problem]) if problem is not None else _output_check(out, f)
        if reasons:
            examples.append(
                {
                    "view": view.name,
                    "feature": f.name,
                    "class": "output type",
                    "declared": str(f.type),
                    "returned": found,
                    "reason": reasons[0],
                }
            )
        result.append(
            base
            | {
                "feature": f.name,
                "status": "alert" if reasons else "ok",
                "count": len(reasons),
                "declared": str(f.type),
                "source": None if found is None else f"function output {found}",
                "source_mismatch": False,
                "output_mismatch": bool(reasons),
                "reasons": reasons,
                "input": f"{len(rows)} training-frame rows at {at.isoformat()}",
            }
        )
    return result + malformed, examples


def _output_check(out: pd.DataFrame, f: Field) -> tuple[str | None, list[str]]:
    """The dtype of a returned column, and why it does not fit ``f`` (empty when it does)."""
    if f.name not in out.columns:
        return None, [f"no column {f.name!r} returned"]
    col = out[f.name]
    try:
        arrow = pa.Array.from_pandas(col.to_numpy()).type
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        return str(col.dtype), [f"column {f.name!r} ({col.dtype}) is not an Arrow type: {exc}"]
    found = f"{col.dtype} ({arrow})"
    if not pa.types.is_null(arrow) and not source_fits(arrow, f.type.arrow):
        return found, [f"function returns {found}, declared {f.type}"]
    return found, []


def sample_time(engine: OfflineEngine, views: Sequence[FeatureView]) -> datetime | None:
    """Just after the latest source row became visible (its views' offline watermarks)."""
    marks = []
    for v in views:
        mark = engine.watermark(v)
        if mark is not None:
            marks.append(mark + v.availability_delay + timedelta(microseconds=1))
    return max(marks) if marks else None


def check_on_demand(
    engine: OfflineEngine,
    view: OnDemandFeatureView,
    refs: Sequence[FeatureRef],
    sources: Mapping[str, FeatureView],
    log: pa.Table | None,
    offline_fn: OfflineFn,
    sample: int | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Pick the sample (source keys, or logged requests for request data) and run
    :func:`on_demand_rows` on it at :func:`sample_time`."""
    inputs = [
        (f"{r.view}:{r.feature}", r.output, sources[r.view].field(r.feature).type) for r in refs
    ]
    at = sample_time(engine, list(sources.values()))
    skipped = None if at is not None else "its sources have no rows"
    if view.request_fields:
        needed = [f.name for f in view.request_fields]
        for v in sources.values():
            needed += [k for k in v.join_keys if k not in needed]
        rows = [] if log is None else logged_requests(log, view, needed)[:sample]
        if not rows:
            names = ", ".join(f.name for f in view.request_fields)
            skipped = (
                f"needs request data ({names}): the served-feature log holds no request of "
                f"{view.name} that carries it"
            )
    else:
        rows = source_keys(engine, next(iter(sources.values()))).slice(0, sample).to_pylist()
    when = at or datetime.now(UTC)
    return on_demand_rows(view, sources, inputs, rows, when, offline_fn, skipped)
