"""Window aggregations: ``Aggregation`` and ``AggregationView``.

An :class:`AggregationView` is a :class:`~store.definitions.FeatureView` whose features are
window aggregations of source columns (or SQL expressions over them). At time ``t`` an
aggregation over window ``W`` with hop ``H`` covers the rows visible at ``t`` (rules 1-3 of the
point-in-time rule: ``event_ts < t``, ``created_ts + availability_delay < t``, lateness) whose
``event_ts`` lies in ``[floor_H(t) - W, t)``: the tail moves by whole hops, the head slides.
An empty window gives 0 for ``count`` and ``sum`` (and ``count_distinct``), null otherwise.

Functions and what they return:

* ``count``: non-null values of the column (``"*"``: rows), int64;
* ``sum``: sum of the non-null values, 0 when there are none, in ``dtype``;
* ``mean``: ``sum / count`` of the non-null values as float64, null when there are none;
* ``min`` / ``max``: in ``dtype``;
* ``last``: the value of the latest row by ``(event_ts, created_ts)`` (then file and row
  order, as for plain views) among the rows whose value is not null;
* ``count_distinct``: exact number of distinct non-null values (compared as text), int64.

A float sum (and the sum of a mean) is one fixed sequence of IEEE double additions, so that
training frames and online reads give the same bits: the visible rows are grouped into pieces
by (visibility hop, event hop), each piece is added up in row order (``event_ts``,
``created_ts``, file and row), then the pieces in (visibility hop, event hop) order, from 0.0.
A float32 sum adds the float32 values in double and rounds the total once.

Every parameter that can change a value (column, function, window, dtype, hop, lateness,
delay) is part of the view's version, and so is :data:`TILES`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from store.definitions import FeatureView, Field
from store.errors import DefinitionError
from store.sql_expr import scalar_sql
from store.types import ValueType

FUNCTIONS = ("count", "sum", "mean", "min", "max", "last", "count_distinct")
_NUMERIC = {"int32", "int64", "float32", "float64"}
_TYPED = {"sum": _NUMERIC, "min": _NUMERIC | {"string"}, "max": _NUMERIC | {"string"}}
_TYPED["last"] = _NUMERIC | {"string", "bool"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_US = timedelta(microseconds=1)
# Bumped when the order of a float sum's additions or the online tile layout changes: the
# version then changes, so stored tiles of the old kind read as VERSION_MISMATCH and the next
# materialization (incremental too) recomputes every key. 2: pieces by (event, visibility hop).
TILES = 2


def _label(window: timedelta) -> str:
    secs = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        whole = window % timedelta(seconds=1) == timedelta(0)
        if secs and secs % size == 0 and whole and (unit != "d" or secs >= 2 * 86400):
            return f"{secs // size}{unit}"
    return f"{window // _US}us"


@dataclass(frozen=True)
class Aggregation:
    """One window aggregation of a column.

    Args:
        column: a source column name, an SQL expression over source columns (DuckDB), or
            ``"*"`` (``count`` only: rows).
        function: one of ``count, sum, mean, min, max, last, count_distinct``.
        window: the window length ``W``; a whole number of the view's hops.
        name: the feature name; default ``<column>_<function>_<window>``, e.g.
            ``amount_usd_sum_24h`` (required when ``column`` is an expression).
        dtype: type of the value for ``sum``, ``min``, ``max`` and ``last`` (the column is
            cast to it); default float64. ``count*`` are int64, ``mean`` float64.
    """

    column: str
    function: str
    window: timedelta
    name: str | None = None
    dtype: str | ValueType | None = None

    def __post_init__(self) -> None:
        what = f"aggregation {self.name or self.column!r}"
        if not isinstance(self.column, str) or not self.column.strip():
            raise DefinitionError(f"{what}: column must be a column name or an SQL expression")
        if self.function not in FUNCTIONS:
            raise DefinitionError(
                f"{what}: unknown function {self.function!r}; use one of {', '.join(FUNCTIONS)}"
            )
        if self.column == "*" and self.function != "count":
            raise DefinitionError(f"{what}: column '*' only works with count; name a column")
        if not isinstance(self.window, timedelta) or self.window <= timedelta(0):
            raise DefinitionError(
                f"{what}: window must be a positive timedelta, got {self.window!r}"
            )
        if self.name is None:
            if not (self.column == "*" or _IDENT.fullmatch(self.column)):
                raise DefinitionError(
                    f"aggregation of expression {self.column!r}: give it a name= "
                    "(only plain columns get a default name)"
                )
            base = "rows" if self.column == "*" else self.column
            object.__setattr__(self, "name", f"{base}_{self.function}_{_label(self.window)}")
        if self.column != "*" and not _IDENT.fullmatch(self.column):
            scalar_sql(self.column, what=f"aggregation {self.name!r}")
        object.__setattr__(self, "dtype", self._dtype())

    def _dtype(self) -> ValueType:
        what = f"aggregation {self.name!r}"
        if self.function in ("count", "count_distinct", "mean"):
            if self.dtype is not None:
                raise DefinitionError(
                    f"{what}: {self.function} has a fixed type; remove dtype={self.dtype!r}"
                )
            return ValueType.parse("float64" if self.function == "mean" else "int64", what=what)
        vt = ValueType.parse(self.dtype or "float64", what=what)
        allowed = _TYPED[self.function]
        if vt.is_list or vt.scalar not in allowed:
            raise DefinitionError(
                f"{what}: {self.function} cannot produce {vt}; use one of {sorted(allowed)}"
            )
        return vt

    @property
    def output_type(self) -> ValueType:
        """The type of the feature's value."""
        return self.dtype  # type: ignore[return-value]

    @property
    def column_sql(self) -> str:
        """The SQL of the aggregated column: quoted, or the checked expression's tree rendered."""
        if _IDENT.fullmatch(self.column):
            return '"' + self.column + '"'
        return scalar_sql(self.column, what=f"aggregation {self.name!r}")

    @property
    def input_sql(self) -> str:
        """The SQL of the aggregated input, typed (``count``: 1 per non-null value)."""
        col = self.column
        expr = "1" if col == "*" else self.column_sql
        if self.function == "count":
            return f"CASE WHEN {expr} IS NULL THEN NULL ELSE 1 END"
        if self.function == "count_distinct":
            return f"CAST({expr} AS VARCHAR)"
        return expr

    @property
    def input_type(self) -> ValueType:
        """The type the input is cast to before aggregating."""
        if self.function == "count_distinct":
            return ValueType.parse("string", what="input")
        return self.output_type

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "column": self.column,
            "function": self.function,
            "window_us": self.window // _US,
            "dtype": str(self.output_type),
        }


@dataclass(frozen=True)
class AggregationView(FeatureView):
    """A feature view of window aggregations over an event source.

    Args:
        name, entities, source: as for :class:`~store.definitions.FeatureView`.
        aggregations: the features (each window a whole number of hops).
        hop: the tiles' length ``H`` (default 1 hour); windows' tails move by whole hops.
        allowed_lateness, availability_delay: as for a plain view (rules 2 and 3).
        fields: derived from ``aggregations``; do not pass it.
        ttl: not used (a window bounds what is counted); must stay None.

    Raises:
        DefinitionError: naming the view, the aggregation and the fix.
    """

    fields: Sequence[Field] = ()
    aggregations: Sequence[Aggregation] = ()
    hop: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        where = f"aggregation view {self.name!r}"
        aggs = tuple(self.aggregations) if isinstance(self.aggregations, Iterable) else ()
        if not aggs or not all(isinstance(a, Aggregation) for a in aggs):
            raise DefinitionError(f"{where}: aggregations must be a non-empty list of Aggregation")
        if tuple(self.fields):
            raise DefinitionError(f"{where}: fields come from aggregations; remove fields=")
        if self.ttl is not None:
            raise DefinitionError(f"{where}: ttl does not apply (the windows bound what counts)")
        if not isinstance(self.hop, timedelta) or self.hop <= timedelta(0) or self.hop % _US:
            raise DefinitionError(f"{where}: hop must be a positive whole number of microseconds")
        for agg in aggs:
            if agg.window % self.hop:
                raise DefinitionError(
                    f"{where}: aggregation {agg.name!r} window {agg.window} is not a multiple "
                    f"of the hop {self.hop}; use a window of whole hops or a smaller hop"
                )
        object.__setattr__(self, "aggregations", aggs)
        fields = tuple(Field(str(a.name), a.output_type) for a in aggs)
        object.__setattr__(self, "fields", fields)
        super().__post_init__()

    @property
    def hops(self) -> dict[str, int]:
        """Window length of each aggregation, in hops."""
        return {str(a.name): a.window // self.hop for a in self.aggregations}

    @property
    def max_hops(self) -> int:
        return max(self.hops.values())

    def input_view(self) -> FeatureView:
        """A plain view whose fields are the aggregations' typed inputs (named like them):
        the offline engine normalizes and checks the source through it."""
        fields = [Field(str(a.name), a.input_type, expr=a.input_sql) for a in self.aggregations]
        return FeatureView(
            name=self.name,
            entities=self.entities,
            source=self.source,
            fields=fields,
            allowed_lateness=self.allowed_lateness,
            availability_delay=self.availability_delay,
        )

    def spec(self) -> dict[str, Any]:
        spec = super().spec()
        spec["aggregations"] = [a.spec() for a in self.aggregations]
        spec["hop_us"] = self.hop // _US
        spec["tiles"] = TILES
        return spec


__all__ = ["FUNCTIONS", "Aggregation", "AggregationView"]
