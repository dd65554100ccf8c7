"""A self-contained HTML page for an audit report: inline CSS and SVG, no scripts, no links.

Top to bottom: the headline status, the summary figures, the rows worst-first (coloured by
status; for drift, metric cells coloured by the level they reached), the charts (baseline vs
current histograms of the drifting features; counts per group and class), the examples, and
the parameters the audit ran with.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

import orjson

from store.audit.report import FeatureResult
from store.audit.svg import BASELINE, CURRENT, counts_svg, histogram_svg

if TYPE_CHECKING:
    from store.audit.report import AuditReport

MAX_EXAMPLES = 50
MAX_CHARTS = 24
CSS = """
*{box-sizing:border-box}body{margin:0;background:#f8fafc;color:#0f172a;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1180px;margin:0 auto;padding:28px 32px 48px}
.hero{display:flex;gap:22px;align-items:center;padding:22px 26px;border-radius:14px;
background:#fff;border:1px solid #e2e8f0;border-left:10px solid var(--c)}
.badge{font-weight:800;font-size:22px;letter-spacing:.06em;color:#fff;background:var(--c);
padding:10px 18px;border-radius:10px}
h1{margin:0;font-size:24px}h2{font-size:17px;margin:34px 0 12px}
.lede{margin:4px 0 0;font-size:16px;color:#334155}
.meta{margin:4px 0 0;color:#64748b;font-size:12.5px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-top:18px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:22px}.card span{color:#64748b;font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e2e8f0;
border-radius:10px;overflow:hidden;font-size:13px}
th{background:#f1f5f9;text-align:left;font-weight:600;color:#334155;padding:8px 10px;
white-space:nowrap}
.panel{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:12px 14px}
td{padding:7px 10px;border-top:1px solid #eef2f7;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pill{display:inline-block;font-weight:700;font-size:11.5px;padding:2px 9px;border-radius:99px;
color:#fff;letter-spacing:.04em}
.ok{background:#0f766e}.warn{background:#d97706}.alert{background:#dc2626}
td.hit-warn{background:#fef3c7;font-weight:600}td.hit-alert{background:#fee2e2;font-weight:700;
color:#991b1b}
tr.row-alert td:first-child{border-left:4px solid #dc2626}
tr.row-warn td:first-child{border-left:4px solid #d97706}
tr.row-ok td:first-child{border-left:4px solid transparent}
.muted{color:#94a3b8}tr.has-why td{border-bottom:0}
tr.why td{border-top:0;padding:0 10px 9px 28px;color:#475569;font-size:12.5px}
tr.why ul{margin:0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:4px 18px}
tr.why li::before{content:"▸ ";color:#94a3b8}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:16px}
figure{margin:0;background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:12px 14px}
figcaption{display:flex;gap:10px;align-items:baseline;flex-wrap:wrap;margin-bottom:6px}
figcaption b{font-size:15px}figcaption small{color:#64748b}
.legend{display:flex;gap:16px;color:#475569;font-size:12.5px;margin-bottom:10px}
.sw{display:inline-block;width:12px;height:12px;border-radius:3px;vertical-align:-1px;margin-right:5px}
details{margin-top:28px}summary{cursor:pointer;color:#475569}
pre{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:12px;overflow:auto;
font-size:12px}footer{margin-top:30px;color:#94a3b8;font-size:12px}
"""
COLOUR = {"ok": "#0f766e", "warn": "#d97706", "alert": "#dc2626"}


def render_html(report: AuditReport) -> str:
    """The whole page for ``report`` as one string."""
    rows = report.sorted_rows()
    features = [r for r in rows if isinstance(r, FeatureResult)]
    plain = [r for r in rows if isinstance(r, dict)]
    body = [_hero(report), _cards(report.summary)]
    if features:
        body += [_section("Features, worst first", _feature_table(features)), _charts(features)]
    if report.counts:
        chart = f'<div class="panel">{counts_svg(report.counts)}</div>'
        body.append(_section("Counts per group and class", chart))
    if plain:
        body.append(_section("Results, worst first", _dict_table(plain)))
    if report.examples:
        shown = report.examples[:MAX_EXAMPLES]
        title = f"Examples ({len(shown)} of {len(report.examples)})"
        body.append(_section(title, _dict_table(shown)))
    params = orjson.dumps(report.params, option=orjson.OPT_INDENT_2, default=str).decode()
    body.append(f"<details><summary>Parameters</summary><pre>{escape(params)}</pre></details>")
    body.append("<footer>parity-store audit report</footer>")
    title = escape(f"{report.kind} audit: {report.status.upper()}")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<style>{CSS}</style></head><body><main>{''.join(body)}</main></body></html>\n"
    )


def _hero(report: AuditReport) -> str:
    s = report.summary
    if "features" in s and "alert" in s:
        flagged = s.get("alert", 0) + s.get("warn", 0)
        lede = (
            f"{flagged} of {s['features']} features drifting: "
            f"{s.get('alert', 0)} alert, {s.get('warn', 0)} warn"
            if flagged
            else f"All {s['features']} features within thresholds"
        )
    else:
        lede = str(s.get("headline", f"status {report.status}"))
    created = report.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f'<header class="hero" style="--c:{COLOUR[report.status]}">'
        f'<div class="badge">{report.status.upper()}</div><div>'
        f"<h1>{escape(report.kind.capitalize())} audit</h1>"
        f'<p class="lede">{escape(lede)}</p><p class="meta">{created} · exit code '
        f"{report.exit_code}</p></div></header>"
    )


def _cards(summary: dict[str, Any]) -> str:
    cards = [
        f'<div class="card"><b>{_fmt(v)}</b><span>{escape(k.replace("_", " "))}</span></div>'
        for k, v in summary.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    return f'<section class="cards">{"".join(cards)}</section>' if cards else ""


def _section(title: str, inner: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{inner}</section>"


def _feature_table(rows: list[FeatureResult]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "Feature",
            "Status",
            "Kind",
            "PSI",
            "KS D",
            "KS p",
            "JS",
            "KL",
            "χ² p",
            "Null rate",
            "Unseen",
        )
    )
    body = []
    for r in rows:
        null = f"{r.null_rate_baseline:.1%} → {r.null_rate_current:.1%}"
        cells = [
            f"<td><b>{escape(r.feature)}</b></td>",
            f'<td><span class="pill {r.status}">{r.status.upper()}</span></td>',
            f"<td>{r.kind}</td>",
            _metric(r, "psi", r.psi, "{:.3f}"),
            _metric(r, "ks", r.ks, "{:.3f}"),
            _metric(r, "ks", r.ks_pvalue, "p"),
            _metric(r, "js", r.js, "{:.3f}"),
            _metric(r, "kl", r.kl, "{:.3f}"),
            _metric(r, "chi2", r.chi2_pvalue, "p"),
            _metric(r, "null_rate", 1.0, null),
            _metric(r, "unseen_rate", r.unseen_rate, "{:.1%}"),
        ]
        why = r.reasons + r.notes
        edge = " has-why" if why else ""
        body.append(f'<tr class="row-{r.status}{edge}">{"".join(cells)}</tr>')
        if why:
            items = "".join(f"<li>{escape(w)}</li>" for w in why)
            body.append(
                f'<tr class="row-{r.status} why"><td colspan="11"><ul>{items}</ul></td></tr>'
            )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _metric(r: FeatureResult, name: str, value: float | None, fmt: str) -> str:
    if value is None:
        return '<td class="n muted">–</td>'
    hit = r.flags.get(name)
    cls = f"n hit-{hit}" if hit else "n"
    text = _pvalue(value) if fmt == "p" else fmt.format(value)
    return f'<td class="{cls}">{escape(text)}</td>'


def _charts(rows: list[FeatureResult]) -> str:
    drifting = [r for r in rows if r.status != "ok" and r.histogram]
    intro = "Share of values per bin; bins frozen from the baseline."
    if not drifting:
        drifting = [r for r in rows if r.histogram][:3]
        intro = "No feature drifts; the largest PSI values are shown for reference."
    if not drifting:
        return ""
    legend = (
        f'<p class="legend"><span><i class="sw" style="background:{BASELINE}"></i>baseline'
        f'</span><span><i class="sw" style="background:{CURRENT["alert"]}"></i>current '
        f"(coloured by status)</span><span>{escape(intro)}</span></p>"
    )
    figures = []
    for r in drifting[:MAX_CHARTS]:
        assert r.histogram is not None  # filtered above
        stats = " · ".join(
            f"{name} {value:.3f}"
            for name, value in (("PSI", r.psi), ("KS", r.ks), ("JS", r.js))
            if value is not None
        )
        if "null_rate" in r.flags:
            stats += f" · null {r.null_rate_baseline:.1%} → {r.null_rate_current:.1%}"
        figures.append(
            f"<figure><figcaption><b>{escape(r.feature)}</b>"
            f'<span class="pill {r.status}">{r.status.upper()}</span>'
            f"<small>{escape(stats)}</small></figcaption>"
            f"{histogram_svg(r.histogram, r.status)}</figure>"
        )
    return _section("Baseline vs current", legend + f'<div class="grid">{"".join(figures)}</div>')


def _pvalue(value: float) -> str:
    return "<1e-300" if value == 0 else f"{value:.2g}"


def _dict_table(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        status = str(row.get("status", ""))
        cells = []
        for c in columns:
            value = row.get(c)
            if c == "status" and status in COLOUR:
                cells.append(f'<td><span class="pill {status}">{status.upper()}</span></td>')
            else:
                numeric = isinstance(value, int | float) and not isinstance(value, bool)
                cls = ' class="n"' if numeric else ""
                cells.append(f"<td{cls}>{escape(_fmt(value, group=False))}</td>")
        body.append(f'<tr class="row-{escape(status) or "ok"}">{"".join(cells)}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _fmt(value: object, *, group: bool = True) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}" if group else str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        return orjson.dumps(value, default=str).decode()
    return str(value)
