"""On-demand features in requests: which inputs to fetch, and the transform on both paths.

The facade resolves a request's references; on-demand ones are replaced by the features their
functions need (fetched under hidden names unless requested anyway), and after the training
frame or the online read, :func:`store.ondemand.transform` runs once over all rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from store.errors import RequestDataError
from store.ondemand import OnDemandFeatureView, transform
from store.online_response import FeatureColumn, OnlineResponse, Status
from store.registry import Definitions, FeatureRef, resolve_features
from store.training_frame import TrainingFrame


@dataclass
class OnDemandPlan:
    """A request split into what is fetched and what is computed."""

    fetch: list[FeatureRef]
    computed: list[FeatureRef]
    hidden: list[str] = field(default_factory=list)
    # per on-demand view: udf input name -> (fetched column, arrow type)
    inputs: dict[str, dict[str, tuple[str, pa.DataType]]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)


def plan_on_demand(defs: Definitions, refs: Sequence[FeatureRef]) -> OnDemandPlan:
    """Split ``refs``; inputs already requested are reused, the others fetched hidden."""
    fetch = [r for r in refs if r.view not in defs.on_demand]
    plan = OnDemandPlan(fetch, [r for r in refs if r.view in defs.on_demand])
    plan.order = [r.output for r in refs]
    have = {(r.view, r.feature): r.output for r in fetch}
    for name in dict.fromkeys(r.view for r in plan.computed):
        odfv = defs.on_demand[name]
        cols: dict[str, tuple[str, pa.DataType]] = {}
        for src in resolve_features(defs, list(odfv.sources)):
            key = (src.view, src.feature)
            if key not in have:
                have[key] = f"__od__{src.view}__{src.feature}"
                plan.fetch.append(FeatureRef(src.view, src.feature, have[key]))
                plan.hidden.append(have[key])
            cols[src.output] = (have[key], defs.view(src.view).field(src.feature).type.arrow)
        plan.inputs[name] = cols
    return plan


def _outputs(
    defs: Definitions,
    plan: OnDemandPlan,
    column: Any,
    request: Mapping[str, Any],
    n_rows: int,
) -> dict[str, pa.Array]:
    out: dict[str, pa.Array] = {}
    for name, cols in plan.inputs.items():
        odfv: OnDemandFeatureView = defs.on_demand[name]
        inputs = {short: column(src, dtype) for short, (src, dtype) in cols.items()}
        request_data = {f.name: request[f.name] for f in odfv.request_fields if f.name in request}
        values = transform(odfv, inputs, request_data, n_rows)
        for ref in plan.computed:
            if ref.view == name:
                out[ref.output] = values[ref.feature]
    return out


def apply_offline(defs: Definitions, plan: OnDemandPlan, frame: TrainingFrame) -> TrainingFrame:
    """The training frame with on-demand columns appended and hidden inputs dropped."""
    if not plan.computed:
        return frame
    table = frame.to_arrow()

    def column(name: str, dtype: pa.DataType) -> pa.Array:
        return table.column(name).combine_chunks().cast(dtype)

    request = {name: table.column(name) for name in table.column_names}
    for name, values in _outputs(defs, plan, column, request, table.num_rows).items():
        table = table.append_column(name, values)
    table = table.drop_columns(plan.hidden)
    if frame.path is not None:  # rewritten whole, with the file's metadata (the manifest)
        meta = pq.read_metadata(frame.path).metadata or {}
        kept = {k: v for k, v in meta.items() if k != b"ARROW:schema"}
        pq.write_table(table.replace_schema_metadata(kept), frame.path)
        return TrainingFrame(None, frame.path, frame.manifest, frame.beyond_watermark)
    return TrainingFrame(table, None, frame.manifest, frame.beyond_watermark)


def apply_online(
    defs: Definitions,
    plan: OnDemandPlan,
    response: OnlineResponse,
    entity_rows: Sequence[Mapping[str, Any]],
) -> OnlineResponse:
    """The response with on-demand columns (request data from the entity rows' extra keys)."""
    if not plan.computed:
        return response
    by_name = {c.name: c for c in response.columns}

    def column(name: str, dtype: pa.DataType) -> pa.Array:
        # Values as read: a plain view's non-PRESENT value is already null, and an aggregation
        # with no tiles (MISSING) holds the empty window's value (0 for counts and sums), which
        # is what a training frame passes too.
        return pa.array(by_name[name].values, dtype)

    # Raw values (JSON from the server, Python from the SDK): transform converts them with
    # request_array, the same conversion as offline.
    request: dict[str, list[Any]] = {}
    names = {f.name for n in plan.inputs for f in defs.on_demand[n].request_fields}
    for name in sorted(names):
        has = [name in row for row in entity_rows]
        if has and all(has):
            request[name] = [row[name] for row in entity_rows]
        elif any(has):
            row = has.index(False)
            raise RequestDataError(
                f"entity row {row} lacks request data {name!r} that other rows have: give it "
                "in every row (null where there is none)",
                name,
                row,
            )
    n = len(entity_rows)
    for name, values in _outputs(defs, plan, column, request, n).items():
        ref = next(r for r in plan.computed if r.output == name)
        version = defs.on_demand[ref.view].version
        by_name[name] = FeatureColumn(
            name,
            ref.view,
            ref.feature,
            version,
            values.to_pylist(),
            [Status.PRESENT] * n,
            [None] * n,
            next(f.type for f in defs.on_demand[ref.view].fields if f.name == ref.feature),
        )
    columns = [by_name[name] for name in plan.order]
    return OnlineResponse(response.entity_rows, columns, response.read_at)
