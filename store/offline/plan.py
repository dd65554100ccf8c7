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

The window and the ASOF join only carry narrow columns (keys, times and a row id
``(file << 40) + row``); the feature values are fetched afterwards by a hash join on the row
id. Sorting narrow rows instead of wide ones is what keeps the guarded join close to a plain
ASOF join on event time (see ``store/bench_offline.py``).

The *naive* join (event time alone) only feeds the leakage counts of the manifest.
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
ID = "__id"
_ID = f"(CAST({FILE_IDX} AS BIGINT) << 40) + {ROW_NUM}"


@dataclass(frozen=True)
class Rule:
    """The rule's parameters for one view."""

    ttl: timedelta | None
    allowed_lateness: timedelta | None
    availability_delay: timedelta

    @classmethod
    def of(cls, view: FeatureView) -> Rule:
        return cls(view.ttl, view.allowed_lateness, view.availability_delay)


def candidates(view: FeatureView, source: str) -> str:
    """Usable rows of the normalized source: keys, times, ``__vis_ts`` and the row id."""
    keys = list(view.join_keys)
    conds = [f"{quote_ident(k)} IS NOT NULL" for k in keys]
    conds += [f"{EVENT_TS} IS NOT NULL", f"{CREATED_TS} IS NOT NULL"]
    delay = view.availability_delay
    created = f"{CREATED_TS} + {interval(delay)}" if delay else CREATED_TS
    if view.allowed_lateness is not None:
        lateness = micros(view.allowed_lateness)
        conds.append(f"epoch_us({CREATED_TS}) - epoch_us({EVENT_TS}) <= {lateness}")
    cols = f"{idents(keys)}, {EVENT_TS}, {CREATED_TS}, {_ID} AS {ID}"
    return (
        f"SELECT {cols}, greatest({EVENT_TS}, {created}) AS {VIS_TS} "
        f"FROM ({source}) AS norm WHERE {' AND '.join(conds)}"
    )


def frontier(view: FeatureView, source: str) -> str:
    """The rows that can win at some t (see the module docstring), narrow.

    Rows are sorted per key by ``(vis_ts, event_ts, created_ts, row id)``. A row is kept when
    its ``(event_ts, created_ts)`` (packed in a HUGEINT: both fit in 64 bits) equals the running
    maximum, and it is the last of the rows with its ``vis_ts``: the best of its peers. Exact
    ties share ``vis_ts``, so the last one kept is the one written last.
    """
    window = (
        f"(PARTITION BY {idents(view.join_keys)} ORDER BY {VIS_TS}, {EVENT_TS}, {CREATED_TS}, "
        f"{ID} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    )
    return (
        f"SELECT * FROM ({candidates(view, source)}) AS cand "
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
    view: FeatureView,
    source: str,
    entities: str,
    outputs: dict[str, str],
    *,
    keep: list[str],
    chosen: tuple[str, str] = (EVENT_TS, CREATED_TS),
) -> str:
    """Entity rows joined with the view's values at their ``__t``.

    Args:
        view: the feature view.
        source: its normalized relation SQL (evaluated twice: it must be deterministic).
        entities: a relation with ``__rid``, ``__key_<k>`` (declared types) and ``__t``.
        outputs: feature name -> output column name.
        keep: extra entity columns to carry (``__rid`` is always kept).
        chosen: output names of the chosen row's event_ts and created_ts.
    """
    ok = alive(view, "e", "f")
    picked = [f"e.{ROW_ID}", *(f"e.{quote_ident(c)}" for c in keep)]
    picked.append(f"CASE WHEN {ok} THEN f.{ID} END AS {ID}")
    picked += [
        f"CASE WHEN {ok} THEN f.{c} END AS {quote_ident(name)}"
        for c, name in zip((EVENT_TS, CREATED_TS), chosen, strict=True)
    ]
    pick = (
        f"SELECT {', '.join(picked)} FROM ({entities}) AS e "
        f"ASOF LEFT JOIN ({frontier(view, source)}) AS f ON {asof_on(view, 'e', 'f')}"
    )
    values = f"SELECT {_ID} AS {ID}, {idents(outputs)} FROM ({source}) AS v"
    cols = [f"p.{ROW_ID}", *(f"p.{quote_ident(c)}" for c in [*keep, *chosen])]
    cols += [f"s.{quote_ident(feat)} AS {quote_ident(out)}" for feat, out in outputs.items()]
    return (
        f"SELECT {', '.join(cols)} FROM ({pick}) AS p LEFT JOIN ({values}) AS s ON p.{ID} = s.{ID}"
    )


def naive_rank(alias: str = "") -> str:
    """``(event_ts, created_ts)`` packed in a HUGEINT that sorts like the pair; its high 64 bits
    are event_ts, so ``rank < (t << 64)`` exactly when ``event_ts < t``."""
    q = f"{alias}." if alias else ""
    return (
        f"((CAST(epoch_us({q}{EVENT_TS}) AS HUGEINT) << 64) "
        f"+ (CAST(epoch_us({q}{CREATED_TS}) AS HUGEINT) + 9223372036854775808))"
    )


def leakage_counts(view: FeatureView, source: str, result: str, chosen: tuple[str, str]) -> str:
    """Leakage counts of one view over a training frame's rows.

    ``result`` holds the entity rows (``__t``, ``__key_<k>``) and the chosen row's times
    (columns ``chosen``, null when nothing was visible). One row comes back: rows; rows where a
    naive join (ASOF on event time alone: greatest ``(event_ts, created_ts)`` before t, ttl
    applied, no leakage guard or lateness) chose a row with other ``(event_ts, created_ts)``;
    naive choices that had not landed at t (leakage guard); naive choices later than
    allowed_lateness (watermark).
    """
    keys = idents(view.join_keys)
    conds = " AND ".join(f"{quote_ident(k)} IS NOT NULL" for k in view.join_keys)
    naive_src = (
        f"SELECT {keys}, {EVENT_TS}, {CREATED_TS}, {naive_rank()} AS __rank FROM ({source}) "
        f"AS s WHERE {conds} AND {EVENT_TS} IS NOT NULL AND {CREATED_TS} IS NOT NULL"
    )
    naive_on = " AND ".join(
        [f"e.{quote_ident(key_alias(k))} = n.{quote_ident(k)}" for k in view.join_keys]
        + [f"(CAST(epoch_us(e.{AS_OF}) AS HUGEINT) << 64) > n.__rank"]
    )
    naive_ok = alive(view, "e", "n")
    event, created = (f"e.{quote_ident(c)}" for c in chosen)
    guarded = f"CASE WHEN {event} IS NOT NULL THEN [{event}, {created}] END"
    naive = f"CASE WHEN {naive_ok} THEN [n.{EVENT_TS}, n.{CREATED_TS}] END"
    delay = interval(view.availability_delay)
    not_landed = f"{naive_ok} AND n.{CREATED_TS} + {delay} >= e.{AS_OF}"
    late = "false"
    if view.allowed_lateness is not None:
        lateness = micros(view.allowed_lateness)
        late = f"{naive_ok} AND epoch_us(n.{CREATED_TS}) - epoch_us(n.{EVENT_TS}) > {lateness}"
    return (
        f"SELECT count(*), count(*) FILTER (WHERE {guarded} IS DISTINCT FROM {naive}), "
        f"count(*) FILTER (WHERE {not_landed}), count(*) FILTER (WHERE {late}) "
        f"FROM ({result}) AS e ASOF LEFT JOIN ({naive_src}) AS n ON {naive_on}"
    )
