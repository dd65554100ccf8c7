"""The point-in-time rule as SQL, built from structure (no engine needed to build it).

A source row becomes visible at ``vis_ts = max(event_ts, created_ts + availability_delay)``:
rules 1 and 2 of the rule (``event_ts < t`` and ``created_ts + delay < t``) together say
``vis_ts < t``. Rule 3 (allowed_lateness) is a filter on the row alone. Rule 4 (ttl) depends
on ``t`` and the chosen row only, because the chosen row has the greatest event_ts of the
visible rows: when it is too old, so are all the others.

The value at ``t`` is the usable row (visible at t, within the lateness) with the greatest
``(event_ts, created_ts, file, row)``. :func:`point_in_time` finds it in two steps:

1. An ASOF join on event time alone, exactly as a plain (unguarded) join does, carrying the
   values: the latest row that happened before t. When that row is usable and has no tie on
   event time in its key, it is the answer: every usable row happened before t, and none
   ranks higher. This is most entity rows, and it costs what a plain join costs, plus a semi
   join on (key, event_ts) that finds the ties.
2. The other entity rows (their latest row is late, not yet landed, or tied) use the exact
   general method, over the rows of their keys only. Per key, a row is *dominated* when
   another row of the key is visible no later than it (``vis_ts <= its vis_ts``) and ranks
   higher: whenever the dominated row is visible, so is the better one. The rows that are
   not dominated (the "frontier") rank strictly higher as ``vis_ts`` grows, so the value at
   ``t`` is the frontier row with the greatest ``vis_ts < t``: an ASOF join on visibility. A
   running maximum in ``vis_ts`` order finds the frontier in one sort (see :func:`frontier`).

Step 1's row is also the *naive* choice the manifest's leakage counts compare with, so they
cost one pass over the frame (:func:`leakage_counts`). ``store/bench_offline.py`` measures
the whole against a plain ASOF join.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def candidates(
    view: FeatureView, source: str, only: str | None = None, extra: Sequence[str] = ()
) -> str:
    """Usable rows of the normalized source: keys, times, ``__vis_ts`` and the row id.

    With ``only`` (a relation of join-key columns), just the rows of those keys; ``extra``
    columns (select expressions over the source) are carried along.
    """
    keys = list(view.join_keys)
    conds = [f"{quote_ident(k)} IS NOT NULL" for k in keys]
    conds += [f"{EVENT_TS} IS NOT NULL", f"{CREATED_TS} IS NOT NULL"]
    delay = view.availability_delay
    created = f"{CREATED_TS} + {interval(delay)}" if delay else CREATED_TS
    if view.allowed_lateness is not None:
        lateness = micros(view.allowed_lateness)
        conds.append(f"epoch_us({CREATED_TS}) - epoch_us({EVENT_TS}) <= {lateness}")
    cols = f"{idents(keys)}, {EVENT_TS}, {CREATED_TS}, {_ID} AS {ID}, {_cols(list(extra))}"
    return (
        f"SELECT {cols}greatest({EVENT_TS}, {created}) AS {VIS_TS} "
        f"FROM ({source}) AS norm{_semi(keys, only)} WHERE {' AND '.join(conds)}"
    )


def _semi(keys: list[str], only: str | None) -> str:
    if only is None:
        return ""
    on = " AND ".join(f"norm.{quote_ident(k)} = o.{quote_ident(k)}" for k in keys)
    return f" SEMI JOIN ({only}) AS o ON {on}"


def frontier(
    view: FeatureView, source: str, only: str | None = None, extra: Sequence[str] = ()
) -> str:
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
        f"SELECT * FROM ({candidates(view, source, only, extra)}) AS cand "
        f"QUALIFY max({_RANK}) OVER {window} = {_RANK} "
        f"AND coalesce(lead({VIS_TS}) OVER {window} <> {VIS_TS}, true)"
    )


def asof_on(view: FeatureView, ent: str, front: str) -> str:
    """The ASOF join condition of an entity relation ``ent`` and a frontier ``front``."""
    eq = [f"{ent}.{quote_ident(key_alias(k))} = {front}.{quote_ident(k)}" for k in view.join_keys]
    return " AND ".join([*eq, f"{ent}.{AS_OF} > {front}.{VIS_TS}"])


def alive(view: FeatureView, t: str, event: str) -> str:
    """SQL condition: a row was chosen (its ``event`` time is set) and is within the ttl at
    ``t``."""
    cond = f"{event} IS NOT NULL"
    if view.ttl is not None:
        cond += f" AND epoch_us({t}) - epoch_us({event}) <= {micros(view.ttl)}"
    return cond


def _usable(view: FeatureView, row: str, t: str) -> str:
    """SQL condition: the row ``row`` (with ``__event_ts``, ``__created_ts``) is visible at
    ``t`` (rules 1-2) and within the allowed lateness (rule 3)."""
    delay = view.availability_delay
    created = f"{row}.{CREATED_TS}" + (f" + {interval(delay)}" if delay else "")
    cond = f"greatest({row}.{EVENT_TS}, {created}) < {t}"
    if view.allowed_lateness is not None:
        lateness = micros(view.allowed_lateness)
        cond += f" AND epoch_us({row}.{CREATED_TS}) - epoch_us({row}.{EVENT_TS}) <= {lateness}"
    return cond


@dataclass(frozen=True)
class Staged:
    """A query in stages: ``tables`` (name, SQL) to materialize in order, then ``query``,
    which reads them. :meth:`as_query` is the same as one statement (materialized CTEs)."""

    tables: list[tuple[str, str]]
    query: str

    def as_query(self) -> str:
        ctes = ", ".join(f"{name} AS MATERIALIZED ({sql})" for name, sql in self.tables)
        return f"WITH {ctes} {self.query}"


def point_in_time(
    view: FeatureView,
    source: str,
    entities: str,
    outputs: dict[str, str],
    *,
    keep: list[str],
    chosen: tuple[str, str] = (EVENT_TS, CREATED_TS),
    naive: tuple[str, str] | None = None,
    prefix: str = "__p",
) -> Staged:
    """Entity rows joined with the view's values at their ``__t``.

    1. An ASOF join on event time alone, as a plain join would do, carrying the values: the
       latest row that happened before t, landed or not.
    2. When that row is usable (visible at t and within the lateness) and no other row of its
       key has the same event time, it is the rule's choice: every usable row happened before
       t and none ranks higher. Ties on event time are found by a semi join on (key,
       event_ts), because the ASOF join picks any one of them.
    3. The other entity rows (a late, not yet landed or tied latest row) take the
       :func:`frontier` and an ASOF join on visibility, over the rows of their keys only.

    The naive choice (for the leakage counts) is the row of step 1; for a tie, the one with
    the greatest created_ts.

    Args:
        view: the feature view.
        source: its normalized relation SQL (evaluated more than once: it must be
            deterministic).
        entities: a relation with ``__rid``, ``__key_<k>`` (declared types) and ``__t``.
        outputs: feature name -> output column name.
        keep: extra entity columns to carry (``__rid`` is always kept).
        chosen: output names of the chosen row's event_ts and created_ts.
        naive: output names for the naive choice's event_ts and created_ts; not output when
            None.
        prefix: prefix of the stage tables' names (unique per view in one connection).

    Returns:
        The stages; ``.as_query()`` for a single statement.
    """
    n, tied, rest, second, top = (f"{prefix}{x}" for x in ("n", "tied", "rest", "second", "top"))
    keys = list(view.join_keys)
    aliases = [key_alias(k) for k in keys]
    carried = {f"__v{i}": feat for i, feat in enumerate(outputs)}
    values = [f"{quote_ident(feat)} AS {v}" for v, feat in carried.items()]
    times = [EVENT_TS, CREATED_TS, ID, *carried]
    not_null = " AND ".join(f"{quote_ident(k)} IS NOT NULL" for k in [*keys, EVENT_TS, CREATED_TS])

    def rows(cols: list[str]) -> str:
        return f"SELECT {', '.join(cols)} FROM ({source}) AS s WHERE {not_null}"

    def same_key(a: str, b: str) -> list[str]:
        return [
            f"{a}.{quote_ident(x)} = {b}.{quote_ident(k)}"
            for x, k in zip(aliases, keys, strict=True)
        ]

    on = " AND ".join([*same_key("e", "l"), f"e.{AS_OF} > l.{EVENT_TS}"])
    latest = rows([idents(keys), EVENT_TS, CREATED_TS, f"{_ID} AS {ID}", *values])
    first = (
        f"SELECT e.*, {', '.join(f'l.{c} AS __n{c}' for c in times)}, "
        f"coalesce({_usable(view, 'l', f'e.{AS_OF}')}, false) AS __ok "
        f"FROM ({entities}) AS e ASOF LEFT JOIN ({latest}) AS l ON {on}"
    )
    tie = " AND ".join(
        [*same_key("m", "s"), f"s.{EVENT_TS} = m.__n{EVENT_TS}", f"s.{ID} <> m.__n{ID}"]
    )
    tied_sql = (
        f"SELECT {ROW_ID}, {idents(aliases)}, __n{EVENT_TS} FROM {n} AS m "
        f"SEMI JOIN ({rows([idents(keys), EVENT_TS, f'{_ID} AS {ID}'])}) AS s ON {tie}"
    )
    rest_sql = (
        f"SELECT {ROW_ID}, {idents(aliases)}, {AS_OF} FROM {n} "
        f"WHERE __n{ID} IS NOT NULL AND (NOT __ok OR {ROW_ID} IN (SELECT {ROW_ID} FROM {tied}))"
    )
    only = ", ".join(
        f"{quote_ident(a)} AS {quote_ident(k)}" for a, k in zip(aliases, keys, strict=True)
    )
    front = frontier(view, source, f"SELECT DISTINCT {only} FROM {rest}", values)
    second_sql = (
        f"SELECT r.{ROW_ID}, {idents(times, 'f')} FROM {rest} AS r "
        f"ASOF LEFT JOIN ({front}) AS f ON {asof_on(view, 'r', 'f')}"
    )
    # ``second`` has exactly the rows of ``rest``: a joined row was chosen again
    pick = ", ".join(
        f"CASE WHEN p.{ROW_ID} IS NULL THEN m.__n{c} ELSE p.{c} END AS __g{c}" for c in times
    )
    guarded = f"SELECT m.*, {pick} FROM {n} AS m LEFT JOIN {second} AS p ON m.{ROW_ID} = p.{ROW_ID}"
    tables = [(n, first), (tied, tied_sql), (rest, rest_sql), (second, second_sql)]
    ok = alive(view, f"g.{AS_OF}", f"g.__g{EVENT_TS}")
    cols = [f"g.{ROW_ID}", *(f"g.{quote_ident(c)}" for c in keep)]
    named = {EVENT_TS: chosen[0], CREATED_TS: chosen[1]}
    named.update({v: outputs[feat] for v, feat in carried.items()})
    cols += [f"CASE WHEN {ok} THEN g.__g{c} END AS {quote_ident(out)}" for c, out in named.items()]
    joins = ""
    if naive is not None:
        # a tie's naive choice: the greatest created_ts of the tied rows
        top_sql = (
            f"SELECT t.{ROW_ID}, max(s.{CREATED_TS}) AS __top FROM {tied} AS t "
            f"JOIN ({rows([idents(keys), EVENT_TS, CREATED_TS])}) AS s "
            f"ON {' AND '.join([*same_key('t', 's'), f's.{EVENT_TS} = t.__n{EVENT_TS}'])} "
            f"GROUP BY t.{ROW_ID}"
        )
        tables.append((top, top_sql))
        joins = f" LEFT JOIN {top} AS o ON g.{ROW_ID} = o.{ROW_ID}"
        cols += [
            f"g.__n{EVENT_TS} AS {quote_ident(naive[0])}",
            f"coalesce(o.__top, g.__n{CREATED_TS}) AS {quote_ident(naive[1])}",
        ]
    return Staged(tables, f"SELECT {', '.join(cols)} FROM ({guarded}) AS g{joins}")


def _cols(exprs: list[str]) -> str:
    return "".join(f"{e}, " for e in exprs)


def naive_rank(alias: str = "") -> str:
    """``(event_ts, created_ts)`` packed in a HUGEINT that sorts like the pair; its high 64 bits
    are event_ts, so ``rank < (t << 64)`` exactly when ``event_ts < t``."""
    q = f"{alias}." if alias else ""
    return (
        f"((CAST(epoch_us({q}{EVENT_TS}) AS HUGEINT) << 64) "
        f"+ (CAST(epoch_us({q}{CREATED_TS}) AS HUGEINT) + 9223372036854775808))"
    )


def leakage_counts(
    view: FeatureView, result: str, chosen: tuple[str, str], naive: tuple[str, str]
) -> str:
    """Leakage counts of one view over a training frame's rows.

    ``result`` holds the entity rows (``__t``), the chosen row's times (columns ``chosen``,
    null when nothing was visible) and the naive choice's (columns ``naive``, see
    :func:`point_in_time`). One row comes back: rows; rows where the naive join (the latest
    row before t, ttl applied, no leakage guard or lateness) chose a row with other
    ``(event_ts, created_ts)``; naive choices that had not landed at t (leakage guard); naive
    choices later than allowed_lateness (watermark).
    """
    event, created = (quote_ident(c) for c in chosen)
    n_event, n_created = (quote_ident(c) for c in naive)
    naive_ok = alive(view, AS_OF, n_event)
    # the chosen pair is null when nothing was chosen; the naive one when it is beyond the ttl
    differs = f"{event} IS DISTINCT FROM {n_event} OR {created} IS DISTINCT FROM {n_created}"
    changed = f"CASE WHEN {naive_ok} THEN {differs} ELSE {event} IS NOT NULL END"
    delay = interval(view.availability_delay)
    not_landed = f"{naive_ok} AND {n_created} + {delay} >= {AS_OF}"
    late = "false"
    if view.allowed_lateness is not None:
        lateness = micros(view.allowed_lateness)
        late = f"{naive_ok} AND epoch_us({n_created}) - epoch_us({n_event}) > {lateness}"
    return (
        f"SELECT count(*), count(*) FILTER (WHERE {changed}), "
        f"count(*) FILTER (WHERE {not_landed}), count(*) FILTER (WHERE {late}) FROM ({result})"
    )
