"""Window aggregations as SQL: exact at every t, from tiles plus the head of the window.

Each usable source row (lateness filter applied) gets its event hop ``k = floor(event_ts / H)``
and its *visibility hop* ``v = floor(vis_ts / H)``, where ``vis_ts = max(event_ts, created_ts +
delay)`` is the first instant the row may be seen (rules 1-2 say: visible at t iff
``vis_ts < t``). With ``F = floor(t / H)``, an aggregation of ``n`` hops at ``t`` covers the
visible rows with ``k >= F - n``, which split exactly into:

* the **tail**: rows with ``v < F``. Their visibility is settled by the hop alone (``vis_ts <
  F*H <= t``), so they are pre-aggregated into tiles keyed by ``(key, k, v)`` and merged per
  distinct ``(key, F)`` of the entity frame (many entity rows share one);
* the **head**: rows with ``v = F`` and ``vis_ts < t``: only rows that became visible in the
  current hop, joined row by row (an equi-join on ``(key, v = F)``) and grouped by ``k``.

Rows with ``v > F`` are not visible at t. Late rows (``v > k``) land in the tile of their
visibility hop, so a tile is never "closed" too early: the method is exact, not approximate.
Partial states: count and sum add, min/max compare, ``last`` keeps the value with the greatest
``[event_us, created_us, row id]``, ``count_distinct`` keeps the set of distinct values.

Float sums (and the sums of means) are a function of the visible rows alone, so that every
path computes the same bits: the rows of each *piece* ``(v, k)`` are added in rank order, then
the pieces in ``(v, k)`` order, one IEEE double addition at a time from 0.0. A tile is a
piece; the head's pieces (all ``v = F``, the greatest) come after the tail's, so the value is
the tail's ordered sum continued by the head's pieces in ``k`` order (``list_reduce``). A
float32 sum is added in double and rounded to float32 once, at the end.

:func:`online_tiles` computes what the online store keeps: per ``(key, k, v)`` the state of the
rows visible at the write time ``T`` (see ``store/online/tiles.py``).
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from store.aggregation import Aggregation, AggregationView
from store.offline import plan
from store.offline.engine import OfflineEngine, duck_errors
from store.offline.sql import (
    AS_OF,
    CREATED_TS,
    EVENT_TS,
    ROW_ID,
    VIS_TS,
    idents,
    key_alias,
    micros,
    quote_ident,
    ts_literal,
)

HOP = "__k"
VIS_HOP = "__v"
AT_HOP = "__f"
_KEYS = "__only_keys"
_RANK = f"[epoch_us({EVENT_TS}), epoch_us({CREATED_TS}), {plan.ID}]"
# 2**128 - 2**103, halfway between the largest float32 and 2**128: doubles from there on
# round to infinity (IEEE 754), where DuckDB's CAST raises an out-of-range error.
_FLOAT32_OVERFLOW = "3.4028235677973366e+38::DOUBLE"


def floor_hop(expr: str, hop_us: int) -> str:
    """``floor(expr / hop_us)`` for a BIGINT ``expr`` (DuckDB's ``//`` truncates)."""
    return f"(({expr}) - ((({expr}) % {hop_us}) + {hop_us}) % {hop_us}) // {hop_us}"


def state_columns(agg: Aggregation, i: int) -> list[str]:
    """Names of the partial-state columns of aggregation ``i``."""
    extra = {"mean": ["c"], "last": ["r"]}.get(agg.function, [])
    return [f"__s{i}", *(f"__s{i}{x}" for x in extra)]


def float_sum(agg: Aggregation) -> bool:
    """Whether ``agg``'s state holds a float sum (added in the fixed order of the docstring)."""
    return agg.function == "mean" or (
        agg.function == "sum" and agg.input_type.scalar.startswith("float")
    )


def to_float32(expr: str) -> str:
    """``CAST(expr AS FLOAT)`` for a DOUBLE, overflowing to ±infinity as IEEE 754 rounds."""
    return (
        f"CASE WHEN isnan({expr}) OR abs({expr}) < {_FLOAT32_OVERFLOW} "
        f"THEN CAST({expr} AS FLOAT) WHEN {expr} > 0 THEN CAST('inf' AS FLOAT) "
        f"ELSE CAST('-inf' AS FLOAT) END"
    )


def row_states(view: AggregationView, cond: str | None = None) -> list[str]:
    """Aggregates of rows into partial states (``cond(i)`` filters aggregation ``i``)."""
    out = []
    for i, agg in enumerate(view.aggregations):
        col = quote_ident(str(agg.name))
        where = f" FILTER (WHERE {cond.format(i=i, n=view.hops[str(agg.name)])})" if cond else ""
        nn = f" FILTER (WHERE {col} IS NOT NULL" + (
            f" AND {cond.format(i=i, n=view.hops[str(agg.name)])})" if cond else ")"
        )
        names = state_columns(agg, i)
        f = agg.function
        # A piece's floats are added in rank order (DuckDB's parallel sums have no fixed
        # order); distinct values are kept sorted so that a re-run gives the same tiles.
        order = f" ORDER BY {_RANK}" if float_sum(agg) else ""
        if f in ("count", "min", "max"):
            exprs = [f"{f}({col}){where}"]
        elif f == "sum":
            exprs = [f"sum({col}{order}){where}"]
        elif f == "mean":
            exprs = [f"sum({col}{order}){where}", f"count({col}){where}"]
        elif f == "last":
            exprs = [f"arg_max({col}, {_RANK}){nn}", f"max({_RANK}){nn}"]
        else:
            exprs = [f"list_sort(list(DISTINCT {col}){nn})"]
        out += [f"{e} AS {n}" for e, n in zip(exprs, names, strict=True)]
    return out


def merge_states(view: AggregationView, alias: str, cond: str, *, head: bool = False) -> list[str]:
    """Aggregates of pieces (columns of ``alias``) into one partial state per aggregation.

    A float sum adds the tail's pieces in ``(v, k)`` order; with ``head``, it is instead the
    list of the head's piece sums in ``k`` order (the head's ``v`` is the same for all), which
    :func:`final_values` adds after the tail's sum.
    """
    out = []
    for i, agg in enumerate(view.aggregations):
        where = f" FILTER (WHERE {cond.format(i=i, n=view.hops[str(agg.name)])})"
        names = state_columns(agg, i)
        s = [f"{alias}.{n}" for n in names]
        f = agg.function
        if float_sum(agg) and head:
            first = f"list({s[0]} ORDER BY {alias}.{HOP}) FILTER (WHERE {s[0]} IS NOT NULL)"
        elif float_sum(agg):
            first = f"sum({s[0]} ORDER BY {alias}.{VIS_HOP}, {alias}.{HOP}){where}"
        else:
            first = ""
        if f in ("count", "sum", "mean"):
            exprs = [f"sum({c}){where}" for c in s]
        elif f in ("min", "max"):
            exprs = [f"{f}({s[0]}){where}"]
        elif f == "last":
            exprs = [f"arg_max({s[0]}, {s[1]}){where}", f"max({s[1]}){where}"]
        else:
            exprs = [f"list_sort(list_distinct(flatten(list({s[0]}){where})))"]
        exprs[0] = first or exprs[0]
        out += [f"{e} AS {n}" for e, n in zip(exprs, names, strict=True)]
    return out


def final_values(view: AggregationView, a: str, b: str) -> dict[str, str]:
    """Each aggregation's value from two partial states (``a`` tail, ``b`` head)."""
    out = {}
    for i, agg in enumerate(view.aggregations):
        names = state_columns(agg, i)
        x, y = [f"{a}.{n}" for n in names], [f"{b}.{n}" for n in names]
        f, dtype = agg.function, agg.output_type.duckdb
        # The tail's ordered sum, continued by the head's pieces one addition at a time.
        pieces = f"list_prepend(coalesce({x[0]}, 0.0::DOUBLE), coalesce({y[0]}, []::DOUBLE[]))"
        total = f"list_reduce({pieces}, lambda a, b: a + b)"
        if f == "sum" and float_sum(agg):
            expr = to_float32(total) if agg.output_type.scalar == "float32" else total
        elif f in ("count", "sum"):
            expr = f"CAST(coalesce({x[0]}, 0) + coalesce({y[0]}, 0) AS {dtype})"
        elif f == "mean":
            count = f"(coalesce({x[1]}, 0) + coalesce({y[1]}, 0))"
            expr = f"CASE WHEN {count} > 0 THEN {total} / CAST({count} AS DOUBLE) END"
        elif f in ("min", "max"):
            expr = f"{'least' if f == 'min' else 'greatest'}({x[0]}, {y[0]})"
        elif f == "last":
            newer = f"{y[1]} IS NOT NULL AND ({x[1]} IS NULL OR {y[1]} > {x[1]})"
            expr = f"CASE WHEN {newer} THEN {y[0]} ELSE {x[0]} END"
        else:
            expr = f"coalesce(length(list_distinct(list_concat({x[0]}, {y[0]}))), 0)"
        out[str(agg.name)] = f"CAST({expr} AS {dtype})"
    return out


def usable_rows(view: AggregationView, source: str, only: str | None = None) -> str:
    """Rows that can ever count (keys and times set, lateness kept), with hops and inputs;
    with ``only`` (a relation of join-key columns), just the rows of those keys."""
    iv = view.input_view()
    hop_us = micros(view.hop)
    cand = plan.candidates(iv, source, only)
    values = f"SELECT {plan.row_id()} AS {plan.ID}, {idents(iv.feature_names)} FROM ({source}) AS v"
    return (
        f"SELECT c.*, {idents(iv.feature_names, 'x')}, "
        f"{floor_hop(f'epoch_us(c.{EVENT_TS})', hop_us)} AS {HOP}, "
        f"{floor_hop(f'epoch_us(c.{VIS_TS})', hop_us)} AS {VIS_HOP} "
        f"FROM ({cand}) AS c JOIN ({values}) AS x ON c.{plan.ID} = x.{plan.ID}"
    )


def aggregate_join(
    view: AggregationView,
    source: str,
    entities: str,
    *,
    keep: list[str],
    outputs: dict[str, str],
) -> str:
    """Entity rows with every aggregation of ``view`` at their ``__t`` (see module docstring).

    Args:
        view: the aggregation view.
        source: the normalized relation of ``view.input_view()``.
        entities: a relation with ``__rid``, ``__key_<k>`` and ``__t``.
        keep: entity columns to carry.
        outputs: feature name -> output column.
    """
    keys = list(view.join_keys)
    ekeys = [key_alias(k) for k in keys]
    hop_us = micros(view.hop)
    on_key = " AND ".join(
        f"{{a}}.{quote_ident(ek)} = {{b}}.{quote_ident(k)}"
        for k, ek in zip(keys, ekeys, strict=True)
    )
    tiles = (
        f"SELECT {idents(keys)}, {HOP}, {VIS_HOP}, {', '.join(row_states(view))} "
        f"FROM r GROUP BY ALL"
    )
    tail = (
        f"SELECT {idents(ekeys, 'ef')}, ef.{AT_HOP}, "
        f"{', '.join(merge_states(view, 'tl', f'tl.{HOP} >= ef.{AT_HOP} - {{n}}'))} "
        f"FROM (SELECT DISTINCT {idents(ekeys)}, {AT_HOP} FROM e) AS ef "
        f"JOIN ({tiles}) AS tl ON {on_key.format(a='ef', b='tl')} "
        f"AND tl.{VIS_HOP} < ef.{AT_HOP} AND tl.{HOP} >= ef.{AT_HOP} - {view.max_hops} "
        f"GROUP BY ALL"
    )
    head_cond = f"r.{HOP} >= e.{AT_HOP} - {{n}}"
    head_pieces = (
        f"SELECT e.{ROW_ID}, r.{HOP}, {', '.join(row_states(view, head_cond))} "
        f"FROM e JOIN r ON {on_key.format(a='e', b='r')} "
        f"AND r.{VIS_HOP} = e.{AT_HOP} AND r.{VIS_TS} < e.{AS_OF} GROUP BY e.{ROW_ID}, r.{HOP}"
    )
    head = (
        f"SELECT hp.{ROW_ID}, {', '.join(merge_states(view, 'hp', 'true', head=True))} "
        f"FROM ({head_pieces}) AS hp GROUP BY hp.{ROW_ID}"
    )
    tail_on = " AND ".join(
        [f"e.{quote_ident(ek)} = tl.{quote_ident(ek)}" for ek in ekeys]
        + [f"e.{AT_HOP} = tl.{AT_HOP}"]
    )
    cols = [f"e.{ROW_ID}", *(f"e.{quote_ident(c)}" for c in keep)]
    values = final_values(view, "tl", "hd")
    cols += [f"{values[feat]} AS {quote_ident(out)}" for feat, out in outputs.items()]
    return (
        f"WITH e AS MATERIALIZED (SELECT *, {floor_hop(f'epoch_us({AS_OF})', hop_us)} AS {AT_HOP} "
        f"FROM ({entities}) AS ent), "
        f"r AS MATERIALIZED ({usable_rows(view, source)}) "
        f"SELECT {', '.join(cols)} FROM e LEFT JOIN ({tail}) AS tl ON {tail_on} "
        f"LEFT JOIN ({head}) AS hd ON e.{ROW_ID} = hd.{ROW_ID}"
    )


def online_tiles(
    view: AggregationView,
    source: str,
    as_of: datetime,
    *,
    changed_since: datetime | None = None,
    only: str | None = None,
) -> str:
    """Per ``(key, k, v)`` the partial states of the rows visible at ``as_of`` (``vis_ts <
    as_of``), for every event hop a window read at or after ``as_of`` can still cover.

    With ``changed_since``, only keys with a row that became visible in
    ``[changed_since, as_of)`` (ingestion order, so late rows are picked up). With ``only``
    (a relation of join-key columns), only those keys (a push: the keys it wrote).
    """
    hop_us = micros(view.hop)
    first = f"{floor_hop(f'epoch_us({ts_literal(as_of)})', hop_us)} - {view.max_hops}"
    cond = f"{VIS_TS} < {ts_literal(as_of)} AND {HOP} >= {first}"
    rows = f"SELECT * FROM ({usable_rows(view, source, only)}) AS u WHERE {cond}"
    if changed_since is not None:
        keys = idents(view.join_keys)
        changed = (
            f"SELECT DISTINCT {keys} FROM ({usable_rows(view, source)}) AS u "
            f"WHERE {VIS_TS} >= {ts_literal(changed_since)} AND {VIS_TS} < {ts_literal(as_of)}"
        )
        rows = f"SELECT * FROM ({rows}) AS w SEMI JOIN ({changed}) AS ch USING ({keys})"
    return (
        f"SELECT {idents(view.join_keys)}, {HOP}, {VIS_HOP}, {', '.join(row_states(view))} "
        f"FROM ({rows}) AS r GROUP BY ALL ORDER BY {idents(view.join_keys)}, {HOP}, {VIS_HOP}"
    )


def tiles_at(
    engine: OfflineEngine,
    view: AggregationView,
    as_of: datetime,
    *,
    changed_since: datetime | None = None,
    keys: pa.Table | None = None,
) -> pa.Table:
    """:func:`online_tiles` evaluated: what the online store keeps for ``view`` at ``as_of``.

    With ``keys`` (a table with the join-key columns), only those keys' tiles. One table (not
    a stream): a key's tiles are written together, as one replacement.
    """
    con = engine.connect([view])
    try:
        source = engine.source_sql(view, con=con)
        only = None
        if keys is not None:
            con.register(_KEYS, keys.select(list(view.join_keys)))
            only = f"SELECT DISTINCT {idents(view.join_keys)} FROM {_KEYS}"
        sql = online_tiles(view, source, as_of, changed_since=changed_since, only=only)
        with duck_errors(f"feature view {view.name!r}: tiles at {as_of.isoformat()}"):
            table: pa.Table = con.sql(sql).to_arrow_table()
    finally:
        con.close()
    return table
