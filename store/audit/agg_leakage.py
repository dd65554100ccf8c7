"""Leakage of an aggregation view: its values against a naive aggregation on event time alone.

For every entity row at ``t``, three aggregations of the rows in the window
(``event_ts`` in ``[floor_H(t) - W, t)``) are computed over the same rows and in the same
order, so that only the rows counted can make them differ:

* **naive**: every row with ``event_ts < t``, whether or not it had landed, however late;
* **watermark only**: the rows within ``allowed_lateness`` (no leakage guard);
* **guarded**: the view's rule, rows also visible at ``t`` (``created_ts + delay < t``).

An entity row is changed when a requested feature's guarded value differs from the naive one
(compared bit for bit); the change is put down to the **watermark** when the rows later than
``allowed_lateness`` change the value (watermark only != naive), else to the **leakage
guard**: the same order of causes as a feature view's (``store.offline.plan.leakage_cause``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from store.aggregation import AggregationView
from store.offline.aggregate import final_values, floor_hop, row_states, state_columns, usable_rows
from store.offline.engine import OfflineEngine, duck_errors
from store.offline.entity import load_entities
from store.offline.plan import LATE_ROW as WATERMARK
from store.offline.plan import NOT_LANDED as GUARD
from store.offline.sql import (
    AS_OF,
    CREATED_TS,
    EVENT_TS,
    ROW_ID,
    idents,
    interval,
    key_alias,
    micros,
    quote_ident,
)
from store.online.codec import encode_column

_AT = "__af"
_HOP = "__k"  # the event hop column of ``usable_rows``
_GVIS = "__gvis"
VARIANTS = ("g", "l", "n")  # guarded, watermark only, naive


def column(variant: str, feature: str) -> str:
    """Output column of ``feature`` under ``variant`` (``g``, ``l`` or ``n``)."""
    return f"__{variant}_{feature}"


def _naive_view(view: AggregationView) -> AggregationView:
    """The same aggregations with no lateness and no delay (visible at its event time)."""
    return AggregationView(
        name=view.name,
        entities=view.entities,
        source=view.source,
        aggregations=view.aggregations,
        hop=view.hop,
    )


def variants_sql(view: AggregationView, source: str, entities: str, features: list[str]) -> str:
    """Entity rows with each feature's guarded, watermark-only and naive value."""
    keys = list(view.join_keys)
    hop_us = micros(view.hop)
    delay = view.availability_delay
    created = f"{CREATED_TS} + {interval(delay)}" if delay else CREATED_TS
    on = " AND ".join(f"e.{quote_ident(key_alias(k))} = r.{quote_ident(k)}" for k in keys)
    joined = (
        f"SELECT e.{ROW_ID}, e.{_AT}, e.{AS_OF}, r.*, greatest({EVENT_TS}, {created}) AS {_GVIS} "
        f"FROM e JOIN r ON {on} AND r.{_HOP} >= e.{_AT} - {view.max_hops} "
        f"AND r.{EVENT_TS} < e.{AS_OF}"
    )
    window = f"{_HOP} >= {_AT} - {{n}}"
    late = "true"
    if view.allowed_lateness is not None:
        late = f"epoch_us({CREATED_TS}) - epoch_us({EVENT_TS}) <= {micros(view.allowed_lateness)}"
    conds = {
        "g": f"{window} AND {late} AND {_GVIS} < {AS_OF}",
        "l": f"{window} AND {late}",
        "n": window,
    }
    states = {
        v: f"SELECT {ROW_ID}, {', '.join(row_states(view, c))} FROM j GROUP BY {ROW_ID}"
        for v, c in conds.items()
    }
    empty = [n for i, a in enumerate(view.aggregations) for n in state_columns(a, i)]
    zero = f"SELECT {', '.join(f'NULL AS {n}' for n in empty)}"
    counts = (
        f"SELECT {ROW_ID}, count(*) FILTER (WHERE {late} AND {_GVIS} >= {AS_OF}) AS __not_landed, "
        f"count(*) FILTER (WHERE NOT ({late})) AS __too_late FROM j GROUP BY {ROW_ID}"
    )
    cols = [f"e.{ROW_ID}"]
    cols += [f"e.{quote_ident(key_alias(k))} AS {quote_ident(k)}" for k in keys]
    cols += [f"e.{AS_OF}", "coalesce(c.__not_landed, 0) AS __not_landed"]
    cols += ["coalesce(c.__too_late, 0) AS __too_late"]
    for v in VARIANTS:
        values = final_values(view, v, "z")
        cols += [f"{values[f]} AS {quote_ident(column(v, f))}" for f in features]
    joins = " ".join(
        f"LEFT JOIN ({states[v]}) AS {v} ON {v}.{ROW_ID} = e.{ROW_ID}" for v in VARIANTS
    )
    return (
        f"WITH e AS MATERIALIZED (SELECT {ROW_ID}, {idents(key_alias(k) for k in keys)}, {AS_OF}, "
        f"{floor_hop(f'epoch_us({AS_OF})', hop_us)} AS {_AT} FROM ({entities}) AS ent), "
        f"r AS MATERIALIZED ({usable_rows(_naive_view(view), source)}), "
        f"j AS MATERIALIZED ({joined}) "
        f"SELECT {', '.join(cols)} FROM e {joins} "
        f"LEFT JOIN ({counts}) AS c ON c.{ROW_ID} = e.{ROW_ID} CROSS JOIN ({zero}) AS z "
        f"ORDER BY e.{ROW_ID}"
    )


def aggregate_variants(
    engine: OfflineEngine,
    view: AggregationView,
    entity_df: pd.DataFrame | pa.Table | str | Path,
    features: list[str],
) -> pa.Table:
    """:func:`variants_sql` evaluated over an entity frame, in its row order."""
    con = engine.connect([view])
    try:
        frame = load_entities(con, entity_df, [view])
        sql = variants_sql(view, engine.source_sql(view, con=con), frame.sql(), features)
        with duck_errors(f"feature view {view.name!r}: naive aggregation"):
            return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def audit_aggregation(
    engine: OfflineEngine,
    view: AggregationView,
    entity_df: pd.DataFrame | pa.Table | str | Path,
    features: Sequence[str],
    max_examples: int,
) -> tuple[dict[str, int], list[dict[str, Any]], int]:
    """Counts by cause, examples and the number of entity rows of one aggregation view."""
    feats = list(features)
    table = aggregate_variants(engine, view, entity_df, feats)
    payloads = {
        (v, f): encode_column(table.column(column(v, f)), view.field(f).type)
        for v in VARIANTS
        for f in feats
    }
    counts = {GUARD: 0, WATERMARK: 0}
    picked: list[tuple[int, str]] = []
    for i in range(table.num_rows):
        if all(payloads["g", f][i] == payloads["n", f][i] for f in feats):
            continue
        # the same order as store.offline.plan.leakage_cause: late rows first
        late = any(payloads["l", f][i] != payloads["n", f][i] for f in feats)
        why = WATERMARK if late else GUARD
        counts[why] += 1
        if sum(1 for _, w in picked if w == why) < max_examples:
            picked.append((i, why))
    examples = []
    for i, why in picked:
        row = table.slice(i, 1).to_pylist()[0]
        example: dict[str, Any] = {"view": view.name, "cause": why}
        example |= {k: row[k] for k in view.join_keys}
        example["t"] = row[AS_OF]
        example["naive"] = {f: row[column("n", f)] for f in feats}
        example["guarded"] = {f: row[column("g", f)] for f in feats}
        example["rows_not_landed"] = row["__not_landed"]
        example["rows_too_late"] = row["__too_late"]
        examples.append(example)
    return counts, examples, table.num_rows
