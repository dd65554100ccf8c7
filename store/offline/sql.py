"""Small, safe SQL building blocks: quoting, literals and timestamp normalization.

Every identifier, path and literal that reaches DuckDB goes through :func:`quote_ident` or
:func:`quote_literal`; nothing is pasted into SQL unquoted.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta

from store.definitions import FeatureView, Field
from store.sql_expr import scalar_sql

#: Internal column names: the leading double underscore keeps them apart from user columns.
EVENT_TS = "__event_ts"
CREATED_TS = "__created_ts"
FILE_IDX = "__file_idx"
ROW_NUM = "__row"
VIS_TS = "__vis_ts"
ROW_ID = "__rid"
AS_OF = "__t"


def key_alias(key: str) -> str:
    """The entity-side name of a join-key column (cast to the declared type)."""
    return f"__key_{key}"


def quote_ident(name: str) -> str:
    """Quote an SQL identifier: ``a"b`` -> ``"a""b"``."""
    if "\x00" in name:
        raise ValueError(f"identifier {name!r} contains a NUL byte")
    return '"' + name.replace('"', '""') + '"'


def field_sql(view: FeatureView, field: Field, *, columns: Collection[str] | None = None) -> str:
    """The SQL of a field's value over the source: its column, or its checked ``expr``.

    An ``expr`` is rendered from its parsed, checked tree (:func:`store.sql_expr.scalar_sql`),
    never pasted; ``columns`` (the source's) limits the columns it may name.
    """
    if field.expr is None:
        return quote_ident(field.name)
    what = f"feature view {view.name!r}: field {field.name!r}"
    return scalar_sql(field.expr, what=what, columns=columns)


def quote_literal(value: str) -> str:
    """Quote a string literal (also used for paths): ``it's`` -> ``'it''s'``."""
    if "\x00" in value:
        raise ValueError(f"literal {value!r} contains a NUL byte")
    return "'" + value.replace("'", "''") + "'"


def idents(names: Iterable[str], prefix: str = "") -> str:
    """A comma-separated list of quoted identifiers, optionally qualified by ``prefix``."""
    qual = f"{prefix}." if prefix else ""
    return ", ".join(qual + quote_ident(n) for n in names)


def ts_literal(value: datetime) -> str:
    """A TIMESTAMPTZ literal for a datetime (naive = UTC), at microsecond precision."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"CAST({quote_literal(text + '+00')} AS TIMESTAMPTZ)"


def micros(delta: timedelta) -> int:
    """A timedelta as whole microseconds."""
    return delta // timedelta(microseconds=1)


def interval(delta: timedelta) -> str:
    """An INTERVAL expression of exactly ``delta`` (in microseconds)."""
    return f"to_microseconds(CAST({micros(delta)} AS BIGINT))"


def to_utc_us(expr: str, duck_type: str) -> str:
    """Normalize a timestamp-like expression of DuckDB type ``duck_type`` to TIMESTAMPTZ (us).

    Naive timestamps are UTC (the session time zone is UTC); aware ones are converted.
    Nanoseconds are floored to the microsecond (DuckDB's own cast rounds, which could move an
    event across a request time); strings are parsed, unparsable ones become NULL.
    """
    upper = duck_type.upper()
    if (
        upper.startswith(("TIMESTAMP_NS", "TIMESTAMPTZ_NS"))
        or upper == "TIMESTAMP WITH TIME ZONE_NS"
    ):
        ns = f"epoch_ns({expr})"
        floored = f"({ns} // 1000 - CASE WHEN {ns} % 1000 < 0 THEN 1 ELSE 0 END)"
        return f"CAST(make_timestamp({floored}) AS TIMESTAMPTZ)"
    if upper in {"VARCHAR", "STRING"}:
        return f"TRY_CAST({expr} AS TIMESTAMPTZ)"
    return f"CAST({expr} AS TIMESTAMPTZ)"


def is_timestamp_type(duck_type: str) -> bool:
    """Whether a DuckDB type can hold an event/created timestamp."""
    upper = duck_type.upper()
    return upper.startswith("TIMESTAMP") or upper in {"DATE", "VARCHAR"}
