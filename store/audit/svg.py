"""Inline SVG charts for the HTML report: no scripts, no external assets, escaped text."""

from __future__ import annotations

import math
from html import escape

from store.audit.report import Histogram

BASELINE = "#94a3b8"
CURRENT = {"ok": "#0f766e", "warn": "#d97706", "alert": "#dc2626"}
PALETTE = ["#dc2626", "#d97706", "#7c3aed", "#2563eb", "#0f766e", "#db2777", "#65a30d", "#475569"]
CALM = ["#2563eb", "#0f766e", "#7c3aed", "#0891b2", "#65a30d", "#475569"]  # no red, no amber
FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"'


def histogram_svg(hist: Histogram, status: str = "alert", width: int = 540) -> str:
    """Baseline (wide, grey) and current (narrow, coloured) share of values per frozen bin.

    Bars show proportions, so samples of different sizes compare; one bar pair per bin, equal
    widths (quantile bins hold ~equal baseline mass by construction).
    """
    n = len(hist.labels)
    if n == 0:
        return ""
    base, cur = _shares(hist.baseline), _shares(hist.current)
    step = _nice_step(max(base + cur + [0.01]) / 4)
    top = step * math.ceil(max(base + cur + [0.01]) / step - 1e-9)
    ticks = round(top / step)
    rotate = n > 6 or max(len(label) for label in hist.labels) > 10
    left, right, head = 44, 10, 12
    foot = 78 if rotate else 30
    height = 230 + (foot - 30)
    plot_w, plot_h = width - left - right, height - head - foot
    slot = plot_w / n
    parts = [_svg_open(width, height, f"histogram: {', '.join(hist.labels[:3])}")]
    decimals = 0 if round(step * 100, 6).is_integer() else 1
    for k in range(ticks + 1):
        value = step * k
        y = head + plot_h - plot_h * value / top
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e2e8f0" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#64748b" {FONT}>{value * 100:.{decimals}f}%</text>'
        )
    colour = CURRENT.get(status, CURRENT["alert"])
    for i, label in enumerate(hist.labels):
        x0 = left + i * slot
        parts.append(_bar(x0 + slot * 0.08, slot * 0.84, base[i], top, head, plot_h, BASELINE))
        parts.append(_bar(x0 + slot * 0.3, slot * 0.4, cur[i], top, head, plot_h, colour))
        parts.append(_x_label(x0 + slot / 2, head + plot_h, label, rotate))
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{head + plot_h}" y2="{head + plot_h}" '
        f'stroke="#94a3b8"/></svg>'
    )
    return "".join(parts)


def counts_svg(counts: dict[str, dict[str, int]], status: str = "alert", width: int = 760) -> str:
    """Horizontal bars of ``group -> class -> count``: a header per group (largest total
    first), then one bar per class (largest first), coloured by class.

    Classes and groups with no count are left out ("" when nothing is left: no empty box).
    The report's ``status`` ok draws in calm colours only (no red on a clean report).
    """
    nonzero = {g: {c: n for c, n in by.items() if n} for g, by in counts.items()}
    groups = sorted(
        ((g, by) for g, by in nonzero.items() if by), key=lambda kv: -sum(kv[1].values())
    )
    classes = sorted({c for _, by_class in groups for c in by_class})
    if not classes:
        return ""
    palette = CALM if status == "ok" else PALETTE
    colours = {c: palette[i % len(palette)] for i, c in enumerate(classes)}
    top = max(max(n for _, by_class in groups for n in by_class.values()), 1)
    label_w, bar_h, gap, header_h = 220, 18, 6, 26
    n_bars = sum(len(by_class) for _, by_class in groups)
    height = n_bars * (bar_h + gap) + len(groups) * header_h + 8
    plot_w = width - label_w - 80
    parts = [_svg_open(width, height, "counts per group and class")]
    y = 4.0
    for group, by_class in groups:
        total = sum(by_class.values())
        parts.append(
            f'<text x="8" y="{y + 17:.1f}" font-size="13" font-weight="700" fill="#0f172a" '
            f'{FONT}>{escape(_clip(group, 60))} <tspan fill="#64748b" font-weight="400">'
            f"({total:,})</tspan></text>"
        )
        y += header_h
        for cls, n in sorted(by_class.items(), key=lambda kv: -kv[1]):
            w = max(plot_w * n / top, 1.5 if n else 0)
            parts.append(
                f'<text x="{label_w - 10}" y="{y + 13:.1f}" text-anchor="end" font-size="12" '
                f'fill="#334155" {FONT}>{escape(_clip(cls, 32))}</text>'
                f'<rect x="{label_w}" y="{y:.1f}" width="{w:.1f}" height="{bar_h}" rx="3" '
                f'fill="{colours[cls]}"/>'
                f'<text x="{label_w + w + 6:.1f}" y="{y + 13:.1f}" font-size="12" '
                f'font-weight="600" fill="#0f172a" {FONT}>{n:,}</text>'
            )
            y += bar_h + gap
    parts.append("</svg>")
    return "".join(parts)


def _svg_open(width: int, height: int, title: str) -> str:
    return (
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img"><title>{escape(title)}</title>'
    )


def _bar(x: float, w: float, value: float, top: float, head: float, plot_h: float,
         colour: str) -> str:  # fmt: skip
    h = plot_h * value / top
    return (
        f'<rect x="{x:.1f}" y="{head + plot_h - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
        f'rx="2" fill="{colour}"><title>{value:.1%}</title></rect>'
    )


def _x_label(x: float, y: float, label: str, rotate: bool) -> str:
    text = escape(_clip(label, 24))
    if rotate:
        return (
            f'<text transform="translate({x:.1f},{y + 12:.1f}) rotate(-40)" text-anchor="end" '
            f'font-size="10.5" fill="#475569" {FONT}>{text}</text>'
        )
    return (
        f'<text x="{x:.1f}" y="{y + 16:.1f}" text-anchor="middle" font-size="11" '
        f'fill="#475569" {FONT}>{text}</text>'
    )


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def _nice_step(value: float) -> float:
    """Round up to 1, 2, 2.5 or 5 times a power of ten, so the axis ticks read well."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value - 1e-12)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
