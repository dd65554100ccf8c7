"""The point-in-time rule as SQL, built from structure (no engine needed to build it).

A source row becomes visible at ``vis_ts = max(event_ts, created_ts + availability_delay)``:
rules 1 and 2 of the rule (``event_ts < t`` and ``created_ts + delay < t``) together say
``vis_ts < t``. Rule 3 (allowed_lateness) is a filter on the row alone. Rule 4 (ttl) depends
on ``t`` and the chosen row only, because the chosen row has the greatest event_ts of the
visible rows: when it is too old, so are all the others.

Per key, a row is *dominated* when another row of the key is visible no later than it
(``vis_ts <= its vis_ts``) and ranks higher by ``(event_ts, created_ts, file, row)``: whenever
the dominated row is visible, so is the better one, so it can never be chosen. The rows that
are not dominated (the "frontier") rank strictly higher as ``vis_ts`` grows, so the value at
``t`` is simply the frontier row with the greatest ``vis_ts < t``: an ASOF join. A running
maximum in ``vis_ts`` order finds the frontier in one sort (see :func:`frontier`).

The *naive* plan (what a join on event time alone would give) uses ``vis_ts = event_ts`` and
no lateness filter; it only feeds the leakage counts of the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from store.definitions import FeatureView
from store.offline.sql import (
    AS_OF,
    CREATED_TS,
    EVENT_TS,
    FILE_IDX,
    ROW_ID,
    ROW_NUM,
    VIS_TS,
    idents,
    interval,
    key_alias,
    micros,
    quote_ident,
)

_RANK = f"(CAST(epoch_us({EVENT_TS}) AS HUGEINT) << 64) + epoch_us({CREATED_TS})"


@dataclass(frozen=True)
class Rule:
    """The rule's parameters for one view."""

    ttl: timedelta | None
    allowed_lateness: timedelta | None
    availability_delay: timedelta

    @classmethod
    def of(cls, view: FeatureView) -> Rule:
        return cls(view.ttl, view.allowed_lateness, view.availability_delay)


def candidates(view: FeatureView, source: str, *, naive: bool = False) -> str:
    """Usable rows of the normalized source with their visibility time ``__vis_ts``."""
    keys = list(view.join_keys)
    conds = [f"{quote_ident(k)} IS NOT NULL" for k in keys]
    conds += [f"{EVENT_TS} IS NOT NULL", f"{CREATED_TS} IS NOT NULL"]
    if naive:
        vis = EVENT_TS
    else:
        delay = view.availability_delay
        created = f"{CREATED_TS} + {interval(delay)}" if delay else CREATED_TS
        vis = f"greatest({EVENT_TS}, {created})"
        if view.allowed_lateness is not None:
            lateness = micros(view.allowed_lateness)
            conds.append(f"epoch_us({CREATED_TS}) - epoch_us({EVENT_TS}) <= {lateness}")
    return f"SELECT *, {vis} AS {VIS_TS} FROM ({source}) AS norm WHERE {' AND '.join(conds)}"


def frontier(view: FeatureView, source: str, *, naive: bool = False) -> str:
    """The rows that can win at some t (see the module docstring), with ``__vis_ts``.

    Rows are sorted per key by ``(vis_ts, event_ts, created_ts, file, row)``. A row is kept
    when its ``(event_ts, created_ts)`` (packed in a HUGEINT: both fit in 64 bits) equals the
    running maximum, and it is the last of the rows with its ``vis_ts``: the best of its peers.
    Exact ties share ``vis_ts``, so the last one is the one written last.
    """
    window = (
        f"(PARTITION BY {idents(view.join_keys)} ORDER BY {VIS_TS}, {EVENT_TS}, {CREATED_TS}, "
        f"{FILE_IDX}, {ROW_NUM} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    )
    return (
        f"SELECT * FROM ({candidates(view, source, naive=naive)}) AS cand "
        f"QUALIFY max({_RANK}) OVER {window} = {_RANK} "
        f"AND coalesce(lead({VIS_TS}) OVER {window} <> {VIS_TS}, true)"
    )


def asof_on(view: FeatureView, ent: str, front: str) -> str:
    """The ASOF join condition of an entity relation ``ent`` and a frontier ``front``."""
    eq = [f"{ent}.{quote_ident(key_alias(k))} = {front}.{quote_ident(k)}" for k in view.join_keys]
    return " AND ".join([*eq, f"{ent}.{AS_OF} > {front}.{VIS_TS}"])


def alive(view: FeatureView, ent: str, front: str) -> str:
    """SQL condition: the chosen row exists and is within the ttl at the entity row's t."""
    cond = f"{front}.{EVENT_TS} IS NOT NULL"
    if view.ttl is not None:
        cond += f" AND epoch_us({ent}.{AS_OF}) - epoch_us({front}.{EVENT_TS}) <= {micros(view.ttl)}"
    return cond


def point_in_time(
    view: FeatureView, source: str, entities: str, outputs: dict[str, str], *, keep: list[str]
) -> str:
    """Entity rows joined with the view's values at their ``__t``.

    Args:
        view: the feature view.
        source: its normalized relation SQL.
        entities: a relation with ``__rid``, the view's join keys (declared types) and ``__t``.
        outputs: feature name -> output column name.
        keep: extra entity columns to carry (``__rid`` is always kept).
    """
    ok = alive(view, "e", "f")
    cols = [f"e.{ROW_ID}", *(f"e.{quote_ident(c)}" for c in keep)]
    cols += [
        f"CASE WHEN {ok} THEN f.{quote_ident(feat)} END AS {quote_ident(out)}"
        for feat, out in outputs.items()
    ]
    cols += [f"CASE WHEN {ok} THEN f.{c} END AS {c}" for c in (EVENT_TS, CREATED_TS)]
    return (
        f"SELECT {', '.join(cols)} FROM ({entities}) AS e "
        f"ASOF LEFT JOIN ({frontier(view, source)}) AS f ON {asof_on(view, 'e', 'f')}"
    )


def leakage_counts(view: FeatureView, source: str, entities: str) -> str:
    """One row: entity rows, rows where the rule and the naive join choose different rows, the
    naive choices that had not landed at t (leakage guard) or came too late (watermark), and the
    rows whose t is beyond the source's watermark (greatest created_ts)."""
    naive_ok = alive(view, "e", "n")
    guarded = f"CASE WHEN {alive(view, 'e', 'f')} THEN [f.{FILE_IDX}, f.{ROW_NUM}] END"
    naive = f"CASE WHEN {naive_ok} THEN [n.{FILE_IDX}, n.{ROW_NUM}] END"
    delay = interval(view.availability_delay)
    not_landed = f"{naive_ok} AND n.{CREATED_TS} + {delay} >= e.{AS_OF}"
    late = "false"
    if view.allowed_lateness is not None:
        lateness = micros(view.allowed_lateness)
        late = f"{naive_ok} AND epoch_us(n.{CREATED_TS}) - epoch_us(n.{EVENT_TS}) > {lateness}"
    watermark = f"(SELECT max({CREATED_TS}) FROM ({source}) AS w)"
    return (
        f"SELECT count(*), count(*) FILTER (WHERE {guarded} IS DISTINCT FROM {naive}), "
        f"count(*) FILTER (WHERE {not_landed}), count(*) FILTER (WHERE {late}), "
        f"count(*) FILTER (WHERE e.{AS_OF} > {watermark} OR {watermark} IS NULL) "
        f"FROM ({entities}) AS e "
        f"ASOF LEFT JOIN ({frontier(view, source)}) AS f ON {asof_on(view, 'e', 'f')} "
        f"ASOF LEFT JOIN ({frontier(view, source, naive=True)}) AS n ON {asof_on(view, 'e', 'n')}"
    )
