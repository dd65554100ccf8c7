"""The point-in-time rule as SQL, built from structure (no engine needed to build it).

A source row becomes visible at ``vis_ts = max(event_ts, created_ts + availability_delay)``:
rules 1 and 2 of the rule (``event_ts < t`` and ``created_ts + delay < t``) together say
``vis_ts < t``. Rule 3 (allowed_lateness) is a filter on the row alone. Rule 4 (ttl) depends
on ``t`` and the chosen row only, because the chosen row has the greatest event_ts of the
visible rows: when it is too old, so are all the others.

The value at ``t`` is the usable row (visible at t, within the lateness) with the greatest
``(event_ts, created_ts, file, row)``. :func:`point_in_time` finds it in two steps:

1. An ASOF join on event time alone, exactly as a plain (unguarded) join does, but narrow:
   keys, times and row id, no values. The latest row that happened before t is the answer
   when it is usable and has no tie on event time in its key: every usable row happened
   before t, and none ranks higher. This is most entity rows. One more scan of the source
   then keeps, with their values, the rows at those choices' (key, event time), which gives
   their values and shows the ties, and every row of the keys whose choice is not usable.
2. The other entity rows (their latest row is late, not yet landed or tied) use the exact
   general method over those kept rows. Per key, a row is *dominated* when another row of
   the key is visible no later than it (``vis_ts <= its vis_ts``) and ranks higher:
   whenever the dominated row is visible, so is the better one. The rows that are not
   dominated (the "frontier") rank strictly higher as ``vis_ts`` grows, so the value at
   ``t`` is the frontier row with the greatest ``vis_ts < t``: an ASOF join on visibility.
   A running maximum in ``vis_ts`` order finds the frontier in one sort (see
   :func:`frontier`).

Step 1's row is also the *naive* choice the manifest's leakage counts compare with, and the
rule's choice outside step 2, so the counts are a pass over step 2's rows only.
``store/bench_offline.py`` measures the whole against a plain ASOF join.
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
        conds.append(on_time(view, CREATED_TS, EVENT_TS))
    cols = f"{idents(keys)}, {EVENT_TS}, {CREATED_TS}, {row_id()} AS {ID}, {_cols(list(extra))}"
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
        cond += f" AND {on_time(view, f'{row}.{CREATED_TS}', f'{row}.{EVENT_TS}')}"
    return cond


def on_time(view: FeatureView, created: str, event: str) -> str:
    """SQL condition, rule 3 (allowed_lateness): the row landed (``created``) within the
    view's allowed lateness after its event (``event``); ``true`` when the view has none.
    The one definition: the training frame, the leakage causes and push's late-row count."""
    if view.allowed_lateness is None:
        return "true"
    lateness = micros(view.allowed_lateness)
    return f"epoch_us({created}) - epoch_us({event}) <= {lateness}"


@dataclass(frozen=True)
class Staged:
    """A query in stages: ``tables`` (name, SQL) to materialize in order, then ``query``,
    which reads them. :meth:`as_query` is the same as one statement (materialized CTEs).

    ``leakage`` reads the stage tables too: one row with the manifest's leakage counts (see
    :func:`_leakage` and :func:`leakage_cause`).
    """

    tables: list[tuple[str, str]]
    query: str
    leakage: str

    def as_query(self) -> str:
        ctes = ", ".join(f"{name} AS MATERIALIZED ({sql})" for name, sql in self.tables)
        return f"WITH {ctes} {self.query}"


_N_EVENT, _N_CREATED, _N_ID = (f"__n{c}" for c in (EVENT_TS, CREATED_TS, ID))


def row_id(alias: str = "") -> str:
    """A source row's id: its file's index << 40 + its row number in the file."""
    q = f"{alias}." if alias else ""
    return f"(CAST({q}{FILE_IDX} AS BIGINT) << 40) + {q}{ROW_NUM}"


def _same_key(view: FeatureView, a: str, b: str, *, aliased: bool = True) -> list[str]:
    """``a``'s join keys (``__key_<k>`` when ``aliased``) equal ``b``'s (``<k>``)."""
    return [
        f"{a}.{quote_ident(key_alias(k) if aliased else k)} = {b}.{quote_ident(k)}"
        for k in view.join_keys
    ]


def _complete(view: FeatureView, alias: str) -> str:
    """SQL condition: the source row ``alias`` has its join keys and both times."""
    cols = [*view.join_keys, EVENT_TS, CREATED_TS]
    return " AND ".join(f"{alias}.{quote_ident(c)} IS NOT NULL" for c in cols)


def point_in_time(
    view: FeatureView,
    source: str,
    entities: str,
    outputs: dict[str, str],
    *,
    keep: list[str],
    chosen: tuple[str, str] | None = (EVENT_TS, CREATED_TS),
    prefix: str = "__p",
) -> Staged:
    """Entity rows joined with the view's values at their ``__t``.

    1. ``n``: an ASOF join on event time alone, as a plain join would do, but narrow (keys,
       times and row id; no values): the latest row that happened before t, landed or not.
    2. ``cand``: one scan of the source keeps the rows the later steps need, with their
       values: the rows at the (key, event time) of every usable choice of step 1, and every
       row of the keys whose choice is not usable.
    3. ``second``: the entity rows whose choice is not usable, or tied (another row of
       ``cand`` has its (key, event time): the ASOF join picks any one of them), with the
       :func:`frontier` over their keys' rows in ``cand`` and an ASOF join on visibility.
       For a tied row ``cand`` may hold only the rows at its event time; that is enough,
       because a usable row is among them, so the best usable row has that event time.
    4. ``query``: step 1's row with its values from ``cand``, or step 3's row.

    Args:
        view: the feature view.
        source: its normalized relation SQL (evaluated more than once: it must be
            deterministic).
        entities: a relation with ``__rid``, ``__key_<k>`` (declared types) and ``__t``.
        outputs: feature name -> output column name.
        keep: extra entity columns to carry (``__rid`` is always kept).
        chosen: output names of the chosen row's event_ts and created_ts; none when None.
        prefix: prefix of the stage tables' names (unique per view in one connection).

    Returns:
        The stages; ``.as_query()`` for a single statement.
    """
    n, cand, rest, second = (f"{prefix}{x}" for x in ("n", "cand", "rest", "second"))
    keys = list(view.join_keys)
    aliases = [key_alias(k) for k in keys]
    carried = {f"__v{i}": feat for i, feat in enumerate(outputs)}
    times = [EVENT_TS, CREATED_TS, *carried]
    as_keys = ", ".join(
        f"{quote_ident(a)} AS {quote_ident(k)}" for a, k in zip(aliases, keys, strict=True)
    )

    latest = (
        f"SELECT {idents(keys)}, {EVENT_TS}, {CREATED_TS}, {row_id('s')} AS {ID} "
        f"FROM ({source}) AS s WHERE {_complete(view, 's')}"
    )
    on = " AND ".join([*_same_key(view, "e", "l"), f"e.{AS_OF} > l.{EVENT_TS}"])
    first = (
        f"SELECT e.*, l.{EVENT_TS} AS {_N_EVENT}, l.{CREATED_TS} AS {_N_CREATED}, "
        f"l.{ID} AS {_N_ID}, coalesce({_usable(view, 'l', f'e.{AS_OF}')}, false) AS __ok "
        f"FROM ({entities}) AS e ASOF LEFT JOIN ({latest}) AS l ON {on}"
    )
    picks = f"SELECT DISTINCT {as_keys}, {_N_EVENT}, true AS __hit FROM {n} WHERE __ok"
    late = (
        f"SELECT DISTINCT {as_keys}, true AS __hit FROM {n} WHERE NOT __ok AND {_N_ID} IS NOT NULL"
    )
    cols = list(dict.fromkeys([*keys, EVENT_TS, CREATED_TS, FILE_IDX, ROW_NUM, *outputs]))
    at_pick = [*_same_key(view, "s", "p", aliased=False), f"p.{_N_EVENT} = s.{EVENT_TS}"]
    of_late = _same_key(view, "s", "q", aliased=False)
    cand_sql = (
        f"SELECT {idents(cols, 's')} FROM ({source}) AS s "
        f"LEFT JOIN ({picks}) AS p ON {' AND '.join(at_pick)} "
        f"LEFT JOIN ({late}) AS q ON {' AND '.join(of_late)} "
        f"WHERE {_complete(view, 's')} AND (p.__hit OR q.__hit)"
    )
    tie = [
        *_same_key(view, "m", "c"),
        f"c.{EVENT_TS} = m.{_N_EVENT}",
        f"{row_id('c')} <> m.{_N_ID}",
    ]
    tied = (
        f"SELECT m.{ROW_ID} FROM {n} AS m SEMI JOIN {cand} AS c ON {' AND '.join(tie)} WHERE m.__ok"
    )
    rest_sql = (
        f"SELECT {ROW_ID}, {idents(aliases)}, {AS_OF}, {_N_EVENT}, {_N_CREATED} FROM {n} "
        f"WHERE {_N_ID} IS NOT NULL AND (NOT __ok OR {ROW_ID} IN ({tied}))"
    )
    values = [f"{quote_ident(feat)} AS {v}" for v, feat in carried.items()]
    front = frontier(
        view, f"SELECT * FROM {cand}", f"SELECT DISTINCT {as_keys} FROM {rest}", values
    )
    second_sql = (
        f"WITH {rest} AS MATERIALIZED ({rest_sql}) SELECT r.*, {idents(times, 'f')} "
        f"FROM {rest} AS r ASOF LEFT JOIN ({front}) AS f ON {asof_on(view, 'r', 'f')}"
    )
    # a row in ``second`` (the exact path) was chosen there
    firsts = {EVENT_TS: f"m.{_N_EVENT}", CREATED_TS: f"m.{_N_CREATED}"}
    firsts.update({v: f"c.{quote_ident(feat)}" for v, feat in carried.items()})
    pick = ", ".join(
        f"CASE WHEN p.{ROW_ID} IS NULL THEN {expr} ELSE p.{c} END AS __g{c}"
        for c, expr in firsts.items()
    )
    guarded = (
        f"SELECT m.*, {pick} FROM {n} AS m LEFT JOIN {cand} AS c ON {row_id('c')} = m.{_N_ID} "
        f"LEFT JOIN {second} AS p ON m.{ROW_ID} = p.{ROW_ID}"
    )
    ok = alive(view, f"g.{AS_OF}", f"g.__g{EVENT_TS}")
    named = {v: outputs[feat] for v, feat in carried.items()}
    if chosen is not None:
        named = {EVENT_TS: chosen[0], CREATED_TS: chosen[1], **named}
    cols = [f"g.{ROW_ID}", *(f"g.{quote_ident(c)}" for c in keep)]
    cols += [f"CASE WHEN {ok} THEN g.__g{c} END AS {quote_ident(out)}" for c, out in named.items()]
    tables = [(n, first), (cand, cand_sql), (second, second_sql)]
    return Staged(
        tables,
        f"SELECT {', '.join(cols)} FROM ({guarded}) AS g",
        _leakage(view, cand, second),
    )


#: Causes :func:`leakage_cause` gives, in the order they are tried.
LATE_ROW, NOT_LANDED, UNEXPLAINED = "watermark", "leakage guard", "unexplained"


def leakage_cause(
    view: FeatureView, t: str, event: str, created: str, n_event: str, n_created: str
) -> str:
    """SQL: why the rule's choice (``event``, ``created``) at ``t`` differs from the naive
    join's (``n_event``, ``n_created``); NULL when it does not.

    This is the one definition of "changed vs a naive join", shared by the training frame's
    manifest and the leakage audit. The naive join takes the latest row with ``event_ts < t``
    and applies the ttl (rule 1 and the ttl), without the leakage guard or allowed_lateness.
    Each changed value gets the first cause that applies to the naive choice:

    1. ``watermark``: it landed later than ``allowed_lateness`` after its event (a late row,
       e.g. a backfill: the streaming path drops it, so the rule does too). Such a row has
       often not landed at ``t`` either: it counts here, once.
    2. ``leakage guard``: it had not landed at ``t`` (``created_ts + availability_delay >=
       t``): a naive join would train on data from the future.
    3. ``unexplained``: neither (a defect).
    """
    naive_ok = alive(view, t, n_event)
    ev, cr = (f"(CASE WHEN {alive(view, t, event)} THEN {c} END)" for c in (event, created))
    differs = (
        f"CASE WHEN {naive_ok} THEN ({ev} IS DISTINCT FROM {n_event} "
        f"OR {cr} IS DISTINCT FROM {n_created}) ELSE {ev} IS NOT NULL END"
    )
    late = "false"
    if view.allowed_lateness is not None:
        late = f"{naive_ok} AND NOT ({on_time(view, n_created, n_event)})"
    not_landed = f"{naive_ok} AND {n_created} + {interval(view.availability_delay)} >= {t}"
    return (
        f"(CASE WHEN NOT ({differs}) THEN NULL WHEN {late} THEN '{LATE_ROW}' "
        f"WHEN {not_landed} THEN '{NOT_LANDED}' ELSE '{UNEXPLAINED}' END)"
    )


def _leakage(view: FeatureView, cand: str, second: str) -> str:
    """The manifest's leakage counts of one view, from the stage tables (one row): values
    changed vs the naive join, then by :func:`leakage_cause` (watermark, leakage guard,
    unexplained; they add up to the first), then the watermark rows that had not landed at t
    either (the overlap, for the explanation).

    Only the exact path's rows (``second``) count: elsewhere the chosen row is the naive
    choice (the latest row before t, usable and untied) or there is none, so nothing
    differs. A tie's naive choice is the tied row with the greatest created_ts.
    """
    group = [*_same_key(view, "p", "c"), f"c.{EVENT_TS} = p.{_N_EVENT}"]
    top = (
        f"SELECT p.{ROW_ID}, max(c.{CREATED_TS}) AS __top FROM {second} AS p "
        f"JOIN {cand} AS c ON {' AND '.join(group)} GROUP BY p.{ROW_ID}"
    )
    t, n_event, n_created = f"p.{AS_OF}", f"p.{_N_EVENT}", "o.__top"
    cause = leakage_cause(view, t, f"p.{EVENT_TS}", f"p.{CREATED_TS}", n_event, n_created)
    not_landed = f"{n_created} + {interval(view.availability_delay)} >= {t}"
    counts = [f"count({cause})"]
    counts += [f"count(*) FILTER (WHERE {cause} = '{c}')" for c in (LATE_ROW, NOT_LANDED)]
    counts += [f"count(*) FILTER (WHERE {cause} = '{UNEXPLAINED}')"]
    counts += [f"count(*) FILTER (WHERE {cause} = '{LATE_ROW}' AND {not_landed})"]
    return (
        f"SELECT {', '.join(counts)} FROM {second} AS p "
        f"JOIN ({top}) AS o ON o.{ROW_ID} = p.{ROW_ID}"
    )


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
