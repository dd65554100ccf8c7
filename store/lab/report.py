"""Renderers of a :class:`~store.lab.skew.LabResult`: a terminal table, JSON, and an HTML page
with one plot (offline vs online AUC per way, a self-contained SVG)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from rich.table import Table

from store.lab.skew import TITLES, LabResult

_FLAG = {True: "<b>flags this way</b>", False: "no flag"}
_SHORT = {
    "naive": "1. naive join",
    "ingestion": "2. ingestion time",
    "tumbling": "3. tumbling window",
    "parity": "4. Parity",
}
_TARGETS = {
    "broken_ways_gap_at_least_0.05": "ways 1-3: offline - online AUC ≥ 0.05",
    "parity_gap_within_0.01": "way 4: |offline - online AUC| ≤ 0.01",
    "parity_online_auc_best": "way 4: online AUC ≥ every other way's",
    "broken_ways_flagged": "ways 1-3: each flagged by at least one audit",
    "parity_flagged_by_none": "way 4: flagged by no audit",
}


def rich_table(result: LabResult) -> Table:
    """One row per way: scores, the gap with its 95% interval, and the audits that flag it."""
    p = f"prec@{result.to_dict()['recall']:g}"
    table = Table(title=f"Skew lab: size {result.size:,}, seed {result.seed}")
    for col in ("way", "offline AUC", "online AUC", "gap [95% CI]", f"offline {p}", f"online {p}"):
        table.add_column(col, justify="left" if col == "way" else "right")
    table.add_column("flagged by (cause)")
    for w in result.ways:
        causes = "\n".join(f"{a}: {w.audits[a]['cause']}" for a in w.flagged_by) or "none"
        table.add_row(
            TITLES[w.way],
            f"{w.offline_auc:.3f}",
            f"{w.online_auc:.3f}",
            f"{w.gap.value:+.3f} [{w.gap.low:+.3f}, {w.gap.high:+.3f}]",
            f"{w.offline_precision:.3f}",
            f"{w.online_precision:.3f}",
            causes,
        )
        table.add_section()
    return table


def targets_lines(result: LabResult) -> list[str]:
    """Each target of the issue with 'met' or 'NOT met'."""
    return [
        f"{'met' if ok else 'NOT met'}: {_TARGETS[name]}" for name, ok in result.targets().items()
    ]


def write_json(result: LabResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    return path


def svg_plot(result: LabResult) -> str:
    """Offline and online AUC per way as paired bars, AUC 0.5 to 1.0 on the y axis."""
    width, height, left, bottom, top = 640, 300, 50, 60, 20
    plot_h = height - bottom - top
    group = (width - left - 20) / len(result.ways)
    bar = group / 3

    def y(auc: float) -> float:
        return top + plot_h * (1 - (max(auc, 0.5) - 0.5) / 0.5)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">'
    ]
    for tick in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        parts.append(
            f'<line x1="{left}" x2="{width - 20}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#ddd"/><text x="{left - 8}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{tick:.1f}</text>'
        )
    for i, w in enumerate(result.ways):
        x0 = left + i * group + bar / 2
        for j, (auc, colour) in enumerate(((w.offline_auc, "#888"), (w.online_auc, "#2a7"))):
            x = x0 + j * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{y(auc):.1f}" width="{bar - 4:.1f}" '
                f'height="{top + plot_h - y(auc):.1f}" fill="{colour}"/>'
                f'<text x="{x + (bar - 4) / 2:.1f}" y="{y(auc) - 4:.1f}" '
                f'text-anchor="middle">{auc:.3f}</text>'
            )
        parts.append(
            f'<text x="{x0 + bar:.1f}" y="{height - bottom + 18}" text-anchor="middle">'
            f"{html.escape(_SHORT[w.way])}</text>"
        )
    legend_y = height - 18
    parts.append(
        f'<rect x="{left}" y="{legend_y - 10}" width="12" height="12" fill="#888"/>'
        f'<text x="{left + 18}" y="{legend_y}">offline AUC (own training frame)</text>'
        f'<rect x="{left + 260}" y="{legend_y - 10}" width="12" height="12" fill="#2a7"/>'
        f'<text x="{left + 278}" y="{legend_y}">online AUC (values served)</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def write_html(result: LabResult, path: Path) -> Path:
    """A self-contained page: the plot, the table, the audits' causes and the targets."""
    data = result.to_dict()
    rows = []
    for w in data["ways"]:
        audits = "".join(
            f"<li><b>{html.escape(name)}</b> ({_FLAG[a['flagged']]}; audit status "
            f"{html.escape(a['status'])}): {html.escape(a['cause'])}</li>"
            for name, a in w["audits"].items()
        )
        lo, hi = w["auc_gap_ci95"]
        rows.append(
            f"<tr><td>{html.escape(w['title'])}</td><td>{w['offline_auc']:.3f}</td>"
            f"<td>{w['online_auc']:.3f}</td><td>{w['auc_gap']:+.3f} [{lo:+.3f}, {hi:+.3f}]</td>"
            f"<td>{w['offline_precision']:.3f}</td><td>{w['online_precision']:.3f}</td>"
            f"<td><ul>{audits}</ul></td></tr>"
        )
    targets = "".join(f"<li>{html.escape(line)}</li>" for line in targets_lines(result))
    page = _PAGE.format(
        size=f"{result.size:,}",
        seed=result.seed,
        rows=(
            f"{data['rows']['train']:,} training requests ({data['rows']['train_fraud']:,} "
            f"fraud), {data['rows']['test']:,} test requests ({data['rows']['test_fraud']:,} "
            "fraud)"
        ),
        recall=data["recall"],
        svg=svg_plot(result),
        table="".join(rows),
        targets=targets,
        seconds=data["seconds"],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path


def summary(result: LabResult) -> dict[str, Any]:
    """The headline numbers (what the README and docs quote)."""
    return {w.way: {"offline": w.offline_auc, "online": w.online_auc} for w in result.ways}


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Parity skew lab</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;
vertical-align:top}}td:nth-child(n+2):nth-child(-n+6){{text-align:right}}</style></head>
<body><h1>Parity skew lab</h1>
<p>The same model (gradient-boosted trees) trained four ways on the lab's fraud data
(size {size}, seed {seed}; {rows}); each scored offline on its own training-style
frame of the test requests and online on what Parity's online path served at each request's
time. Precision is at recall {recall}. The gap is offline minus online AUC with a paired
bootstrap 95% interval. Ran in {seconds} s.</p>
{svg}
<table><tr><th>way</th><th>offline AUC</th><th>online AUC</th><th>gap [95% CI]</th>
<th>offline precision</th><th>online precision</th><th>audits</th></tr>
{table}</table>
<h2>Targets</h2><ul>{targets}</ul>
</body></html>
"""
