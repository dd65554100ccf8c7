"""Parity of an on-demand view: its function over online inputs against over offline inputs.

An on-demand view is computed at request time by one function, on both paths, from its source
features (and request data). Its sources are audited by their own views; what is left to
check is that the function, fed what serving feeds it and what a training frame feeds it at the
same time ``t``, gives the same values. ``t`` is the latest watermark of its source views.

The entity rows are every key its sources' rows have (or a sample by key hash). A view with
request fields needs request data: it is taken from the served-feature log (the server logs
request data with the entity columns); when the log holds none, the view is reported as not
compared, with the reason. Both sides run through the facade (``get_online_features`` and
``get_historical_features`` with ``full_feature_names``), so the audit sees exactly what
serving and training see. A differing value is put down to the first of:

* ``source differs``: an input read online differs from the training frame's (the source
  view's own parity rows say why; not counted twice as an alert here);
* ``source not present online (passed as null)``: the inputs agree but serving passed a
  source value that was not ``PRESENT`` as null, while the training frame passed the value
  (e.g. the 0 of an empty window for a count): a real skew;
* ``value differs`` / ``type differs``: same inputs, different output (a function that is
  not deterministic).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from store.aggregation import AggregationView
from store.audit.parity import (
    MISSING,
    NULLED,
    SOURCE_DIFFERS,
    VALUE,
    _classify,
    _Tally,
    _value,
    key_hash,
)
from store.convert import convert_rows
from store.definitions import FeatureView
from store.offline import plan
from store.offline.engine import OfflineEngine, duck_errors
from store.offline.sql import idents
from store.ondemand import OnDemandFeatureView
from store.online.codec import CodecError, encode, encode_column
from store.online.reader import Status
from store.online.store import OnlineStore
from store.online_response import OnlineResponse
from store.registry import FeatureRef
from store.types import ValueType

OnlineFn = Callable[[list[str], list[dict[str, Any]], datetime], OnlineResponse]
"""Online read of features (full names) for entity rows at a time: ``get_online_features``."""
OfflineFn = Callable[[pa.Table, list[str]], pa.Table]
"""Training frame of an entity table for features (full names): ``get_historical_features``."""


@dataclass
class OnDemandResult:
    """The parity of one on-demand view."""

    view: OnDemandFeatureView
    tally: _Tally = field(default_factory=_Tally)
    keys: int = 0
    read_at: datetime | None = None
    skipped: str | None = None
    sources: list[str] = field(default_factory=list)
    malformed: int = 0
    """Logged entity rows left out because a value does not fit its type (e.g. "abc" for a
    float): reported, never fatal."""
    malformed_example: str = ""
    no_request_data: bool = False
    """Skipped only because the view needs request data and none is logged (nothing to see:
    its inputs are audited in their own views); any other skip is a warning."""


def full_name(view: str, feature: str) -> str:
    return f"{view}__{feature}"


def source_keys(engine: OfflineEngine, view: FeatureView) -> pa.Table:
    """Every distinct key of the view's usable source rows (keys and times set, lateness kept)."""
    plain = view.input_view() if isinstance(view, AggregationView) else view
    sql = (
        f"SELECT DISTINCT {idents(view.join_keys)} "
        f"FROM ({plan.candidates(plain, engine.source_sql(view))}) AS c"
    )
    con = engine.connect([view])
    try:
        with duck_errors(f"feature view {view.name!r}: keys"):
            return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def logged_requests(
    log: pa.Table, view: OnDemandFeatureView, needed: Sequence[str]
) -> list[dict[str, Any]]:
    """Distinct logged entity rows of ``view`` that carry every column in ``needed``."""
    if log.num_rows == 0:
        return []
    mask = pa.compute.equal(log.column("view"), view.name)
    texts = set(log.filter(mask).column("entity_key").to_pylist())
    rows = [json.loads(t) for t in sorted(t for t in texts if t)]
    return [r for r in rows if all(r.get(c) is not None for c in needed)]


def _payload(value: Any, vtype: ValueType) -> bytes | None:
    try:
        return encode(value, vtype)
    except CodecError:
        return b"?" + repr(value).encode()


def audit_on_demand(
    engine: OfflineEngine,
    online: OnlineStore,
    view: OnDemandFeatureView,
    sources: Sequence[tuple[FeatureRef, FeatureView]],
    *,
    online_fn: OnlineFn,
    offline_fn: OfflineFn,
    requests: list[dict[str, Any]] | None = None,
    sample: int | None = None,
) -> OnDemandResult:
    """Compare one on-demand view (see the module docstring).

    Args:
        engine, online: the offline engine and the online store.
        view: the on-demand view.
        sources: its resolved source features with their views.
        online_fn, offline_fn: the facade's two paths.
        requests: logged entity rows with request data (for a view with request fields).
        sample: compare this many entity rows, chosen by a stable hash; default all.
    """
    views = {v.name: v for _, v in sources}
    result = OnDemandResult(view, sources=sorted(views))
    marks = {name: online.get_watermark(v) for name, v in views.items()}
    missing = sorted(n for n, m in marks.items() if m is None)
    if missing:
        result.skipped = f"source view {', '.join(missing)} not materialized"
        return result
    read_at = max(m[0] for m in marks.values() if m is not None)
    join_keys: dict[str, ValueType] = {}
    for v in views.values():
        join_keys |= v.join_keys
    request = {f.name: f.type for f in view.request_fields}
    if request:
        rows = [r for r in requests or [] if all(k in r for k in join_keys)]
        if not rows:
            names = ", ".join(request)
            result.no_request_data = True
            result.skipped = (
                f"needs request data ({names}): the served-feature log holds no request of "
                f"{view.name} that carries it; the sources ({', '.join(sorted(views))}) are "
                "audited by their own views"
            )
            return result
    else:
        shapes = {tuple(v.join_keys) for v in views.values()}
        if len(shapes) > 1:
            listed = "; ".join(", ".join(s) for s in sorted(shapes))
            result.skipped = (
                f"sources have different join keys ({listed}): no common key set to sample; "
                "the sources are audited by their own views"
            )
            return result
        seen: dict[tuple[Any, ...], dict[str, Any]] = {}
        for v in views.values():
            for r in source_keys(engine, v).to_pylist():
                seen[tuple(r[k] for k in join_keys)] = r
        rows = list(seen.values())
    rows = _typed_rows(result, rows, join_keys | request)
    if not rows:
        result.skipped = (
            f"every logged request of {view.name} holds a value that does not fit its type "
            f"({result.malformed_example})"
        )
        return result
    rows = _sample(rows, sample)
    result.keys, result.read_at = len(rows), read_at
    if not rows:
        return result
    _compare(result, view, sources, rows, join_keys | request, read_at, online_fn, offline_fn)
    return result


def _typed_rows(
    result: OnDemandResult, rows: list[dict[str, Any]], types: Mapping[str, ValueType]
) -> list[dict[str, Any]]:
    """The rows with every value converted to its type by the one conversion of user values
    (so a logged "NaN" is a float NaN); a row with a value that does not convert is counted in
    ``result.malformed``, not compared."""
    typed, bad, first = convert_rows(rows, types)
    result.malformed += bad
    result.malformed_example = result.malformed_example or first
    return typed


def _sample(rows: list[dict[str, Any]], sample: int | None) -> list[dict[str, Any]]:
    def digest(row: dict[str, Any]) -> int:
        return key_hash(json.dumps(row, sort_keys=True, default=str).encode())

    ranked = sorted(rows, key=digest)
    return ranked if sample is None else ranked[:sample]


def _compare(
    result: OnDemandResult,
    view: OnDemandFeatureView,
    sources: Sequence[tuple[FeatureRef, FeatureView]],
    rows: list[dict[str, Any]],
    types: Mapping[str, ValueType],
    read_at: datetime,
    online_fn: OnlineFn,
    offline_fn: OfflineFn,
) -> None:
    outputs = [(full_name(view.name, f.name), f.name, f.type) for f in view.fields]
    inputs = [(full_name(ref.view, ref.feature), v.field(ref.feature).type) for ref, v in sources]
    features = [f"{view.name}:{f.name}" for f in view.fields]
    features += [f"{ref.view}:{ref.feature}" for ref, _ in sources]
    entity = {c: pa.array([r[c] for r in rows], t.arrow) for c, t in types.items()}
    entity["event_timestamp"] = pa.array([read_at] * len(rows), pa.timestamp("us", tz="UTC"))
    frame = offline_fn(pa.table(entity), features)
    served = {c.name: c for c in online_fn(features, rows, read_at).columns}
    want_in = {n: encode_column(frame.column(n), t) for n, t in inputs}
    got_in = {n: [_payload(v, t) for v in served[n].values] for n, t in inputs}
    for name, feature, vtype in outputs:
        want = encode_column(frame.column(name), vtype)
        got = [_payload(v, vtype) for v in served[name].values]
        for i in range(len(rows)):
            found = _classify(want[i], got[i]) if want[i] != got[i] else None
            if found is None:
                continue
            if any(want_in[n][i] != got_in[n][i] for n, _ in inputs):
                found = SOURCE_DIFFERS
            elif any(
                served[n].statuses[i] is not Status.PRESENT and _value(want_in[n][i]) is not None
                for n, _ in inputs
            ):
                found = NULLED
            elif found == MISSING:
                found = VALUE  # the function gave null online only: its output differs
            example = {
                "view": view.name,
                "key": {k: rows[i][k] for k in types},
                "read_at": read_at,
                "offline": _value(want[i]),
                "online": _value(got[i]),
                "inputs": {
                    n: {
                        "offline": _value(want_in[n][i]),
                        "online": _value(got_in[n][i]),
                        "status": str(served[n].statuses[i]),
                    }
                    for n, _ in inputs
                },
            }
            result.tally.add(feature, found, example)
