"""A self-contained HTML page for an audit report: inline CSS and SVG, no scripts, no links.

Top to bottom: the headline status, the summary figures, what to do next (for a warn or
alert), the rows worst-first (coloured by status; for drift, metric cells coloured by the level
they reached), the charts (baseline vs current histograms of every feature, the ones within
thresholds collapsed; counts per group and class), the examples, and the parameters the audit
ran with. Tables fit the page: long cells wrap, nested values are drawn as ``key: value``
lines, and columns empty in every row are left out. An OK report draws nothing in red.
"""

from __future__ import annotations

import re
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

import orjson

from store.audit.advice import next_steps
from store.audit.report import FeatureResult
from store.audit.svg import BASELINE, CURRENT, counts_svg, histogram_svg

if TYPE_CHECKING:
    from store.audit.report import AuditReport

MAX_EXAMPLES = 50
CSS = """
*{box-sizing:border-box}body{margin:0;background:#f8fafc;color:#0f172a;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1320px;margin:0 auto;padding:28px 32px 48px}
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
vertical-align:bottom}
td,th{overflow-wrap:break-word}
.kv{display:block}.kv i{font-style:normal;color:#64748b}
.next{background:#fff;border:1px solid #e2e8f0;border-left:6px solid var(--c);
border-radius:10px;padding:10px 18px;margin-top:18px}
.next h2{margin:6px 0 8px}.next ul{margin:0;padding-left:18px}.next li{margin:4px 0}
.panel{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:12px 14px}
td{padding:7px 10px;border-top:1px solid #eef2f7;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pill{display:inline-block;white-space:nowrap;font-weight:700;font-size:11.5px;
padding:2px 9px;border-radius:99px;color:#fff;letter-spacing:.04em}
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
_ISO = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?\+00:00")
_FRACTION = re.compile(r"(\d\.)(\d{6,})")
COLOUR = {"ok": "#0f766e", "warn": "#d97706", "alert": "#dc2626"}


def render_html(report: AuditReport) -> str:
    """The whole page for ``report`` as one string."""
    rows = report.sorted_rows()
    features = [r for r in rows if isinstance(r, FeatureResult)]
    plain = [r for r in rows if isinstance(r, dict)]
    body = [_hero(report), _cards(report.summary), _next(report)]
    if features:
        body += [_section("Features, worst first", _feature_table(features)), _charts(features)]
    chart = counts_svg(report.counts, report.status)
    if chart:
        body.append(_section("Counts per group and class", f'<div class="panel">{chart}</div>'))
    if plain:
        body.append(_section("Results, worst first", _dict_table(plain)))
    if report.examples:
        shown = report.examples[:MAX_EXAMPLES]
        title = f"Examples ({len(shown)} of {len(report.examples)})"
        body.append(_section(title, _dict_table(shown)))
    if report.params:
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


def _next(report: AuditReport) -> str:
    steps = next_steps(report)
    if not steps:
        return ""
    items = "".join(f"<li><b>{escape(what)}</b>: {escape(step)}</li>" for what, step in steps)
    return (
        f'<section class="next" style="--c:{COLOUR[report.status]}"><h2>What to do next</h2>'
        f"<ul>{items}</ul></section>"
    )


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
    drawn = [r for r in rows if r.histogram]
    if not drawn:
        return ""
    flagged = [r for r in drawn if r.status != "ok"]
    calm = [r for r in drawn if r.status == "ok"]
    current = CURRENT["alert" if flagged else "ok"]
    legend = (
        f'<p class="legend"><span><i class="sw" style="background:{BASELINE}"></i>baseline'
        f'</span><span><i class="sw" style="background:{current}"></i>current '
        "(coloured by status)</span><span>Share of values per bin; bins frozen from the "
        "baseline.</span></p>"
    )
    inner = legend
    if flagged:
        inner += f'<div class="grid">{"".join(_figure(r) for r in flagged)}</div>'
    if calm:
        grid = f'<div class="grid">{"".join(_figure(r) for r in calm)}</div>'
        label = f"{len(calm)} feature{'s' if len(calm) != 1 else ''} within thresholds"
        inner += f"<details><summary>{label} (open to see them)</summary>{grid}</details>"
    return _section("Baseline vs current", inner)


def _figure(r: FeatureResult) -> str:
    assert r.histogram is not None  # filtered by the caller
    stats = " · ".join(
        f"{name} {value:.3f}"
        for name, value in (("PSI", r.psi), ("KS", r.ks), ("JS", r.js))
        if value is not None
    )
    if "null_rate" in r.flags:
        stats += f" · null {r.null_rate_baseline:.1%} → {r.null_rate_current:.1%}"
    return (
        f"<figure><figcaption><b>{escape(r.feature)}</b>"
        f'<span class="pill {r.status}">{r.status.upper()}</span>'
        f"<small>{escape(stats)}</small></figcaption>"
        f"{histogram_svg(r.histogram, r.status)}</figure>"
    )


def _pvalue(value: float) -> str:
    return "<1e-300" if value == 0 else f"{value:.2g}"


def _dict_table(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    columns = [c for c in columns if any(not _empty(row.get(c)) for row in rows)]
    head = "".join(f"<th>{_header(c)}</th>" for c in columns)
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
                cells.append(f"<td{cls}>{_cell(value)}</td>")
        body.append(f'<tr class="row-{escape(status) or "ok"}">{"".join(cells)}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _header(name: str) -> str:
    """A column name that may break after its underscores (``guarded<wbr>_created_ts``)."""
    return "<wbr>_".join(escape(part) for part in name.split("_"))


def _cell(value: object) -> str:
    """A table cell's HTML: nested values as ``key: value`` lines, lists comma-separated,
    nothing for an empty value (no raw ``[]`` or ``{}``)."""
    if _empty(value):
        return ""
    if isinstance(value, dict):
        return "".join(
            f'<span class="kv"><i>{_wrap(str(k))}:</i> {_wrap(_fmt(v, group=False))}</span>'
            for k, v in value.items()
        )
    if isinstance(value, list):
        return _wrap(", ".join(_fmt(v, group=False) for v in value))
    if isinstance(value, datetime):
        value = value.isoformat()
    if isinstance(value, str) and _ISO.fullmatch(value):  # a time: date and time can wrap
        value = value.replace("T", " ", 1).removesuffix("+00:00") + " UTC"
    return _wrap(_fmt(value, group=False))


def _wrap(text: str) -> str:
    """Escaped ``text`` that may break after its underscores (long names wrap) and after the
    decimal point of a long fraction (``320.<wbr>50759999999997``)."""
    return _FRACTION.sub(r"\1<wbr>\2", escape(text).replace("_", "_<wbr>"))


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
