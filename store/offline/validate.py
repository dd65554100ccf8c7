"""``parity validate``: check a source's rows against its view's declaration.

Reported with counts, example rows and file names: definition problems (missing columns, wrong
types, expressions that do not compile), values that cannot be cast to the declared type, null
keys, null or unparsable timestamps, rows created before their event, and rows with the same
``(key, event_ts, created_ts)`` but different values (the join then picks the row written last).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from store.definitions import FeatureView
from store.errors import DefinitionError, OfflineStoreError
from store.offline.engine import OfflineEngine, duck_errors
from store.offline.sql import CREATED_TS, EVENT_TS, idents, quote_ident

_EXAMPLES = 3


@dataclass(frozen=True)
class Problem:
    """One kind of defect in a source, with how often it happens and where."""

    check: str
    message: str
    count: int = 0
    files: list[str] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ValidationReport:
    """What :func:`validate_view` found for one view."""

    view: str
    rows: int
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        """A human-readable summary."""
        if self.ok:
            return f"{self.view}: OK ({self.rows:,} rows)"
        lines = [f"{self.view}: {len(self.problems)} problem(s) in {self.rows:,} rows"]
        for p in self.problems:
            lines.append(f"  - {p.check}: {p.message}")
            if p.files:
                lines.append(f"      files: {', '.join(p.files)}")
            lines += [f"      e.g. {ex}" for ex in p.examples]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "rows": self.rows,
            "ok": self.ok,
            "problems": [p.__dict__ for p in self.problems],
        }


def validate_view(engine: OfflineEngine, view: FeatureView) -> ValidationReport:
    """Check every row of ``view``'s source against its declaration."""
    try:
        engine.check_view(view)
    except DefinitionError as exc:
        return ValidationReport(view.name, 0, [Problem("definition", str(exc))])
    try:
        return _validate_rows(engine, view)
    except OfflineStoreError as exc:
        problem = Problem("values", f"{exc}; check the declared types and expressions")
        return ValidationReport(view.name, 0, [problem])


def _row_checks(view: FeatureView) -> dict[str, tuple[str, str]]:
    keys = [f"{quote_ident(k)} IS NULL" for k in view.join_keys]
    return {
        "null key": (" OR ".join(keys), "rows with a null join key (never used)"),
        "null event timestamp": (
            f"{EVENT_TS} IS NULL",
            "rows whose event timestamp is null or unparsable (never used)",
        ),
        "null created timestamp": (
            f"{CREATED_TS} IS NULL AND {EVENT_TS} IS NOT NULL",
            "rows whose created timestamp is null or unparsable (never used)",
        ),
        "created before event": (
            f"{CREATED_TS} < {EVENT_TS}",
            "rows created before their event happened (visible from their event time)",
        ),
    }


def _validate_rows(engine: OfflineEngine, view: FeatureView) -> ValidationReport:
    rel = engine.source_sql(view, with_file=True)
    checks = _row_checks(view)
    con = engine.connect([view])
    problems: list[Problem] = []
    try:
        with duck_errors(f"feature view {view.name!r}: validating"):
            counts = ", ".join(f"count(*) FILTER (WHERE {cond})" for cond, _ in checks.values())
            row = con.execute(f"SELECT count(*), {counts} FROM ({rel})").fetchall()[0]
            assert row is not None
            total = int(row[0])
            for (name, (cond, text)), n in zip(checks.items(), row[1:], strict=True):
                if n:
                    problems.append(_problem(con, rel, name, f"{n:,} {text}", int(n), cond))
            dup = _duplicates(con, view, rel)
            if dup is not None:
                problems.append(dup)
    finally:
        con.close()
    return ValidationReport(view.name, total, problems)


def _problem(con: Any, rel: str, name: str, text: str, n: int, cond: str) -> Problem:
    files = [
        str(r[0])
        for r in con.execute(
            f"SELECT DISTINCT __file FROM ({rel}) WHERE {cond} ORDER BY 1 LIMIT 5"
        ).fetchall()
    ]
    examples = _examples(con, f"SELECT * EXCLUDE (__file_idx) FROM ({rel}) WHERE {cond}")
    return Problem(name, text, n, files, examples)


def _examples(con: Any, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(f"{sql} LIMIT {_EXAMPLES}")
    names = [d[0] for d in cur.description]
    return [
        {
            n: (v if isinstance(v, int | float | str | bool) or v is None else str(v))
            for n, v in zip(names, r, strict=True)
        }
        for r in cur.fetchall()
    ]


def _duplicates(con: Any, view: FeatureView, rel: str) -> Problem | None:
    group = idents([*view.join_keys, EVENT_TS, CREATED_TS])
    values = ", ".join(f"v{i} := {quote_ident(f)}" for i, f in enumerate(view.feature_names))
    sql = (
        f"SELECT {group}, count(*) AS rows, count(DISTINCT struct_pack({values})) AS values, "
        f"list(DISTINCT __file ORDER BY __file)[1:3] AS files FROM ({rel}) "
        f"WHERE {EVENT_TS} IS NOT NULL GROUP BY ALL "
        f"HAVING count(DISTINCT struct_pack({values})) > 1"
    )
    n_row = con.execute(f"SELECT count(*), sum(rows) FROM ({sql})").fetchall()[0]
    if not n_row or not n_row[0]:
        return None
    files_row = con.execute(
        f"SELECT list(DISTINCT f) FROM ({sql}), unnest(files) AS u(f)"
    ).fetchall()[0]
    files = sorted(str(f) for f in (files_row[0] if files_row and files_row[0] else []))[:5]
    text = (
        f"{n_row[0]:,} (key, event_ts, created_ts) groups ({int(n_row[1]):,} rows) hold different "
        "values; the join takes the row written last (greatest file name, then row number)"
    )
    return Problem(
        "duplicate rows", text, int(n_row[0]), files, _examples(con, f"SELECT * FROM ({sql})")
    )
