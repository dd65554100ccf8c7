"""User SQL fragments (a field's ``expr``, an aggregation's input): one scalar expression, checked.

A fragment is parsed by DuckDB's own parser (``json_serialize_sql`` of ``SELECT <expr>``) and
must be exactly one statement selecting exactly one expression, without ``FROM``, ``WHERE``,
alias or any other clause. Its tree may not hold a subquery, a window, a ``*``, a parameter, a
qualified name, or a call of a table function (``read_text``, ``read_csv``...), a table macro,
a pragma or an aggregate, a positional reference (``#1``), a function DuckDB does not declare
CONSISTENT (``random``, ``sleep_ms``, ``write_log``, ``now``: see :func:`_parser`) or a clock
keyword (``current_timestamp``); with ``columns`` given, every column it names must be one
of them.
The SQL the engine runs is rendered back from the checked tree (``json_deserialize_sql``),
never the string as written: whatever was typed, what runs is the one expression checked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterator, Mapping
from functools import cache, lru_cache
from typing import Any

import duckdb

from store.errors import DefinitionError

_SELECT = "SELECT "
_REFUSED_CLASSES = {
    "SUBQUERY": "a subquery",
    "WINDOW": "a window function",
    "STAR": "a '*' or COLUMNS(...)",
    "PARAMETER": "a prepared-statement parameter",
    "POSITIONAL_REFERENCE": "a positional reference (#1); name the column",
}
_REFUSED_KINDS = {"table", "table_macro", "pragma", "aggregate"}
# Scalar functions that reach outside the row: the host's environment, settings, sequences.
_REFUSED_SCALARS = {"getenv", "current_setting", "getvariable", "nextval", "currval", "setseed"}
_lock = threading.Lock()


# DuckDB parses these keywords as column references and binds them to "now" when no column
# has the name: a time that differs between training and serving.
_CLOCK_KEYWORDS = {
    "current_timestamp",
    "current_time",
    "current_date",
    "localtime",
    "localtimestamp",
}
_UNSTABLE_WHY = (
    "whose value is not fixed by its arguments (DuckDB stability {stability}: a clock, "
    "randomness, a sleep, a log or session state), so training and serving would differ"
)


@cache
def _parser() -> tuple[duckdb.DuckDBPyConnection, dict[str, str]]:
    """One in-memory DuckDB used as a parser, and the functions an expr may not call, each
    with why.

    Refused: table functions, table macros, pragmas, aggregates, host lookups, and every
    function that DuckDB does not declare CONSISTENT (same arguments, same value): one with a
    VOLATILE overload (``random``, ``uuid``, ``sleep_ms``, ``write_log``) or with no
    CONSISTENT overload (``now``, ``current_date``). A function some of whose overloads are
    CONSISTENT_WITHIN_QUERY only for TIMESTAMPTZ (``hour``, ``date_trunc``: they read the
    session time zone, which the store fixes to UTC) stays allowed.
    """
    con = duckdb.connect(":memory:")
    kinds = ", ".join(f"'{k}'" for k in sorted(_REFUSED_KINDS))
    refused: dict[str, str] = {}
    for (name,) in con.execute(
        f"SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
        f"WHERE function_type IN ({kinds})"
    ).fetchall():
        refused[name] = (
            "a table function, pragma or aggregate; an expr computes one value from one row"
        )
    unstable = con.execute(
        "SELECT lower(function_name), max(stability) FROM duckdb_functions() "
        "WHERE function_type IN ('scalar', 'macro') GROUP BY 1 "
        "HAVING bool_or(stability = 'VOLATILE') "
        "OR NOT bool_or(coalesce(stability, 'CONSISTENT') = 'CONSISTENT')"
    ).fetchall()
    for name, stability in unstable:
        refused.setdefault(name, _UNSTABLE_WHY.format(stability=stability))
    for name in _REFUSED_SCALARS:
        refused[name] = "a host lookup (environment, setting, sequence)"
    return con, refused


def _serialize(sql: str) -> dict[str, Any]:
    con, _ = _parser()
    with _lock:  # one connection, shared by threads
        row = con.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()
    assert row is not None
    tree: dict[str, Any] = json.loads(row[0])
    return tree


def _render(tree: dict[str, Any]) -> str:
    con, _ = _parser()
    with _lock:
        row = con.execute("SELECT json_deserialize_sql(?::JSON)", [json.dumps(tree)]).fetchone()
    assert row is not None
    return str(row[0])


class _Refused(ValueError):
    pass


@lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[str, frozenset[str]]:
    """The canonical SQL of ``text`` and the columns it names; raises _Refused."""
    if not isinstance(text, str) or not text.strip():
        raise _Refused("it is empty")
    tree = _serialize(_SELECT + text)
    if tree.get("error"):
        raise _Refused(f"it is not one SQL expression ({tree.get('error_message', 'syntax')})")
    expr = _only_expression(tree)
    _, refused_functions = _parser()
    columns = frozenset(_check(expr, refused_functions, frozenset()))
    sql = _render({"error": False, "statements": tree["statements"]})
    if not sql.startswith(_SELECT):
        raise _Refused("it does not render back as one expression")
    canonical = sql[len(_SELECT) :]
    # What runs is rendered from the tree; parse it again to be sure it is that tree.
    again = _serialize(_SELECT + canonical)
    if again.get("error") or _strip(_only_expression(again)) != _strip(expr):
        raise _Refused("it does not render back as the same expression")
    return canonical, columns


def _only_expression(tree: dict[str, Any]) -> dict[str, Any]:
    statements = tree.get("statements") or []
    if len(statements) != 1:
        raise _Refused(f"it holds {len(statements)} SQL statements, not one expression")
    node = statements[0].get("node") or {}
    if node.get("type") != "SELECT_NODE":
        raise _Refused("it is not an expression")
    clauses = {
        "FROM": (node.get("from_table") or {}).get("type", "EMPTY") != "EMPTY",
        "WHERE": node.get("where_clause") is not None,
        "GROUP BY": bool(node.get("group_expressions") or node.get("group_sets")),
        "HAVING": node.get("having") is not None,
        "QUALIFY": node.get("qualify") is not None,
        "SAMPLE": node.get("sample") is not None,
        "ORDER BY / LIMIT / DISTINCT": bool(node.get("modifiers")),
        "WITH": bool((node.get("cte_map") or {}).get("map")),
    }
    found = [name for name, present in clauses.items() if present]
    if found:
        raise _Refused(f"it carries a {found[0]} clause; give one expression over the columns")
    select = node.get("select_list") or []
    if len(select) != 1:
        raise _Refused(f"it holds {len(select)} expressions, not one")
    if select[0].get("alias"):
        raise _Refused("it carries an alias (AS ...); the field's name is its alias")
    return dict(select[0])


def _check(node: Any, refused: Mapping[str, str], bound: frozenset[str]) -> Iterator[str]:
    """Walk the tree: refuse what may not be in a scalar expression, yield column names."""
    if isinstance(node, list):
        for item in node:
            yield from _check(item, refused, bound)
        return
    if not isinstance(node, dict):
        return
    cls = node.get("class")
    if cls in _REFUSED_CLASSES:
        raise _Refused(f"it holds {_REFUSED_CLASSES[cls]}")
    if cls == "COLUMN_REF":
        name = _column(node)
        if name not in bound:
            yield name
        return
    if cls == "LAMBDA":
        params = frozenset(_lambda_params(node.get("lhs")))
        yield from _check(node.get("expr"), refused, bound | params)
        return
    if cls == "FUNCTION":
        _check_call(node, refused)
    for key, value in node.items():
        if key != "class":
            yield from _check(value, refused, bound)


def _column(node: dict[str, Any]) -> str:
    names = node.get("column_names") or []
    if len(names) != 1:
        raise _Refused(f"it names {'.'.join(names)!r}: use the source's column names alone")
    if names[0].lower() in _CLOCK_KEYWORDS:
        raise _Refused(
            f"it reads {names[0]!r}, the clock: training and serving would differ; use "
            "the row's timestamps"
        )
    return str(names[0])


def _check_call(node: dict[str, Any], refused: Mapping[str, str]) -> None:
    name = str(node.get("function_name", "")).lower()
    if node.get("schema") or node.get("catalog"):
        raise _Refused(f"it calls a qualified function {name!r}")
    if name in refused:
        raise _Refused(f"it calls {name!r}, {refused[name]}")


def _lambda_params(lhs: Any) -> Iterator[str]:
    if isinstance(lhs, dict):
        if lhs.get("class") == "COLUMN_REF":
            yield from lhs.get("column_names") or []
            return
        for value in lhs.values():
            yield from _lambda_params(value)
    elif isinstance(lhs, list):
        for item in lhs:
            yield from _lambda_params(item)


def _strip(node: Any) -> Any:
    """A tree without source positions (they differ between the text and its rendering)."""
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if not k.startswith("query_location")}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def scalar_sql(text: str, *, what: str, columns: Collection[str] | None = None) -> str:
    """The SQL to run for the user expression ``text``, rendered from its checked tree.

    Args:
        text: the expression as written (``"amount * fx_rate"``).
        what: what it belongs to, for the error (``"feature view 'v': field 'f'"``).
        columns: the source's columns; when given, the expression may name only these.

    Raises:
        DefinitionError: naming ``what``, when it is not exactly one scalar expression over
            the columns.
    """
    try:
        sql, used = _parse(text)
    except _Refused as exc:
        raise DefinitionError(
            f"{what}: expr {text!r} is refused: {exc}. An expr is one scalar SQL expression "
            "over the source's columns, e.g. 'amount * 2'"
        ) from None
    if columns is not None:
        known = {c.lower() for c in columns}  # DuckDB names are case-insensitive
        unknown = sorted(c for c in used if c.lower() not in known)
        if unknown:
            raise DefinitionError(
                f"{what}: expr {text!r} names column(s) {unknown} that the source does not "
                f"have (columns are {sorted(columns)})"
            )
    return f"({sql})"


@lru_cache(maxsize=256)
def _parse_select(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise _Refused("it is empty")
    tree = _serialize(text)
    if tree.get("error"):
        raise _Refused(f"it is not one SELECT statement ({tree.get('error_message', 'syntax')})")
    statements = tree.get("statements") or []
    if len(statements) != 1:
        raise _Refused(f"it holds {len(statements)} SQL statements, not one SELECT")
    _, refused = _parser()
    list(_check_functions(statements[0], refused))
    return _render({"error": False, "statements": statements})


def _check_functions(node: Any, refused: Mapping[str, str]) -> Iterator[None]:
    """Refuse host lookups (getenv...) anywhere in a query; tables and subqueries are its job."""
    if isinstance(node, list):
        for item in node:
            yield from _check_functions(item, refused)
    elif isinstance(node, dict):
        if node.get("class") == "FUNCTION":
            name = str(node.get("function_name", "")).lower()
            if name in _REFUSED_SCALARS:
                raise _Refused(f"it calls {name!r}, a host lookup")
        for value in node.values():
            yield from _check_functions(value, refused)


def select_sql(text: str, *, what: str) -> str:
    """The SQL to run for a source's query: exactly one SELECT, rendered from its parsed tree.

    Raises:
        DefinitionError: naming ``what``, when it is not exactly one SELECT statement.
    """
    try:
        return _parse_select(text)
    except _Refused as exc:
        raise DefinitionError(
            f"{what}: query {text!r} is refused: {exc}. A query source is one SELECT statement"
        ) from None


__all__ = ["scalar_sql", "select_sql"]
