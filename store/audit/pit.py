"""Per-row point-in-time choices for the leakage and replay audits.

The training frame only carries feature values; these audits also need, for every entity row,
which source row the guarded rule chose (its event and created times) and which one a naive
join on event time alone would have chosen (no leakage guard, no allowed_lateness, no ttl),
with that row's values. Built from the same SQL pieces as the training frame
(:func:`store.offline.plan.point_in_time`), so the guarded choice is the frame's.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from store.definitions import FeatureView
from store.offline import plan
from store.offline.engine import OfflineEngine, duck_errors
from store.offline.entity import load_entities
from store.offline.sql import (
    AS_OF,
    CREATED_TS,
    EVENT_TS,
    ROW_ID,
    idents,
    key_alias,
    quote_ident,
)

GUARDED = ("__g_event_ts", "__g_created_ts")
NAIVE = ("__n_event_ts", "__n_created_ts")
CAUSE = "__cause"


def guarded(feature: str) -> str:
    """Output column of the guarded value of ``feature``."""
    return f"__g_{feature}"


def naive(feature: str) -> str:
    """Output column of the naive join's value of ``feature``."""
    return f"__n_{feature}"


def choices(
    engine: OfflineEngine,
    view: FeatureView,
    entity_df: pd.DataFrame | pa.Table | str | Path,
    features: list[str] | None = None,
) -> pa.Table:
    """For every entity row: the guarded and the naive choice of ``view``.

    Args:
        engine: the offline engine.
        view: the feature view.
        entity_df: join keys + ``event_timestamp`` (a DataFrame, Table or Parquet path).
        features: features to carry; default all of the view's.

    Returns:
        In entity-row order: the join keys, ``__t`` (the row's time, UTC), the guarded
        choice's times (:data:`GUARDED`) and values (:func:`guarded`), and the naive
        choice's times (:data:`NAIVE`, ttl not applied) and values (:func:`naive`), and
        :data:`CAUSE`: why the two differ (:func:`store.offline.plan.leakage_cause`, the
        manifest's definition, which applies the ttl to the naive join), null when they
        do not.
    """
    feats = list(features or view.feature_names)
    keys = list(view.join_keys)
    con = engine.connect([view])
    try:
        frame = load_entities(con, entity_df, [view])
        source = engine.source_sql(view, con=con)
        aliases = [key_alias(k) for k in keys]
        picked = plan.point_in_time(
            view,
            source,
            frame.sql(),
            {f: guarded(f) for f in feats},
            keep=[*aliases, AS_OF],
            chosen=GUARDED,
        ).as_query()
        not_null = " AND ".join(
            f"{quote_ident(c)} IS NOT NULL" for c in [*keys, EVENT_TS, CREATED_TS]
        )
        naive_src = (
            f"SELECT {idents(keys)}, {EVENT_TS}, {CREATED_TS}, {plan.naive_rank()} AS __rank, "
            f"{plan.row_id()} AS __nid FROM ({source}) AS s WHERE {not_null}"
        )
        on = " AND ".join(
            [f"g.{quote_ident(key_alias(k))} = n.{quote_ident(k)}" for k in keys]
            + [f"(CAST(epoch_us(g.{AS_OF}) AS HUGEINT) << 64) > n.__rank"]
        )
        values = f"SELECT {plan.row_id()} AS __vid, {idents(feats)} FROM ({source}) AS src"
        cols = [
            f"g.{quote_ident(a)} AS {quote_ident(k)}" for a, k in zip(aliases, keys, strict=True)
        ]
        cols += [f"g.{AS_OF}", *(f"g.{quote_ident(c)}" for c in GUARDED)]
        cols += [f"g.{quote_ident(guarded(f))}" for f in feats]
        cols += [f"n.{EVENT_TS} AS {NAIVE[0]}", f"n.{CREATED_TS} AS {NAIVE[1]}"]
        cols += [f"v.{quote_ident(f)} AS {quote_ident(naive(f))}" for f in feats]
        g_event, g_created = (f"g.{quote_ident(c)}" for c in GUARDED)
        why = plan.leakage_cause(
            view, f"g.{AS_OF}", g_event, g_created, f"n.{EVENT_TS}", f"n.{CREATED_TS}"
        )
        cols += [f"{why} AS {CAUSE}"]
        sql = (
            f"SELECT {', '.join(cols)} FROM ({picked}) AS g "
            f"ASOF LEFT JOIN ({naive_src}) AS n ON {on} "
            f"LEFT JOIN ({values}) AS v ON v.__vid = n.__nid ORDER BY g.{ROW_ID}"
        )
        with duck_errors(f"feature view {view.name!r}: point-in-time choices"):
            return con.sql(sql).to_arrow_table()
    finally:
        con.close()
