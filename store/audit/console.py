"""The CLI summary of an audit report: a rich Table, worst rows first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from store.audit.report import FeatureResult

if TYPE_CHECKING:
    from store.audit.report import AuditReport

STYLE = {"ok": "green", "warn": "yellow", "alert": "bold red"}
MAX_GENERIC_COLUMNS = 8


def status_text(status: str) -> Text:
    """The status as a coloured label (``OK``, ``WARN``, ``ALERT``)."""
    return Text(status.upper(), style=STYLE.get(status, ""))


def rich_table(report: AuditReport) -> Table:
    """Summarise ``report.rows`` as a rich Table; the title carries the overall status."""
    title = Text.assemble(f"{report.kind} audit: ", status_text(report.status))
    rows = report.sorted_rows()
    if rows and all(isinstance(r, FeatureResult) for r in rows):
        return _feature_table(title, [r for r in rows if isinstance(r, FeatureResult)])
    return _generic_table(title, [r for r in rows if isinstance(r, dict)])


def _feature_table(title: Text, rows: list[FeatureResult]) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("feature", "kind", "status", "PSI", "test (p)", "JS", "KL", "null Δ", "unseen"):
        table.add_column(name, justify="left" if name in {"feature", "kind"} else "right")
    table.add_column("why", overflow="fold")
    for r in rows:
        if r.ks is not None:
            test = f"KS {r.ks:.3f} ({_p(r.ks_pvalue)})"
        elif r.chi2 is not None:
            test = f"χ² {r.chi2:.1f} ({_p(r.chi2_pvalue)})"
        else:
            test = ""
        table.add_row(
            r.feature,
            r.kind,
            status_text(r.status),
            _num(r.psi),
            test,
            _num(r.js),
            _num(r.kl),
            f"{r.null_rate_change:+.1%}",
            "" if r.unseen_rate is None else f"{r.unseen_rate:.1%}",
            "; ".join(r.reasons + r.notes),
        )
    return table


def _generic_table(title: Text, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    columns = columns[:MAX_GENERIC_COLUMNS]
    for name in columns:
        table.add_column(name)
    for row in rows:
        cells = [
            status_text(str(row[c])) if c == "status" else Text(_cell(row.get(c))) for c in columns
        ]
        table.add_row(*cells)
    return table


def _p(pvalue: float | None) -> str:
    """A p-value, with 0 shown as below double precision."""
    if pvalue is None:
        return ""
    return "p<1e-300" if pvalue == 0 else f"p={pvalue:.2g}"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
