"""Reports round-trip through JSON, render self-contained HTML and a rich table."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
from rich.console import Console

from store.audit import AuditReport, DriftReport, drift_audit


def drift_report() -> DriftReport:
    rng = np.random.default_rng(7)
    n = 2_000
    base = pa.table({"x": rng.normal(0, 1, n), "c": rng.choice(["a", "b"], n), "k": rng.random(n)})
    cur = pa.table(
        {"x": rng.normal(1, 1, n), "c": rng.choice(["a", "b", "z"], n), "k": rng.random(n)}
    )
    return drift_audit(base, cur)


def parity_report() -> AuditReport:
    return AuditReport(
        kind="parity",
        status="alert",
        summary={"headline": "3 differences in 100 keys", "keys": 100, "differences": 3},
        rows=[
            {"view": "user_stats", "status": "alert", "count": 2, "stale": 2},
            {"view": "merchant", "status": "ok", "count": 0},
            {"view": "profile", "status": "warn", "count": 1, "missing_online": 1},
        ],
        examples=[{"view": "user_stats", "user_id": 7, "offline": 1.5, "online": None}],
        counts={"user_stats": {"stale": 2}, "profile": {"missing online": 1}},
        params={"sample": 100},
    )


def test_drift_report_json_round_trip(tmp_path: Path) -> None:
    report = drift_report()
    path = report.write_json(tmp_path / "drift.json")
    again = AuditReport.from_json(path.read_text())
    assert isinstance(again, DriftReport)
    assert again.to_dict() == report.to_dict()
    assert again.feature("x").histogram == report.feature("x").histogram
    assert again.exit_code == report.exit_code == 1


def test_generic_report_json_round_trip() -> None:
    report = parity_report()
    again = AuditReport.from_json(report.to_json())
    assert again.to_dict() == report.to_dict()
    assert again.created_at == report.created_at


def test_rows_sort_worst_first() -> None:
    assert [r["view"] for r in parity_report().sorted_rows()] == [  # type: ignore[index]
        "user_stats",
        "profile",
        "merchant",
    ]
    assert drift_report().flagged[0] in {"x", "c"}


def test_exit_code_is_zero_for_ok_and_warn() -> None:
    for status, code in (("ok", 0), ("warn", 0), ("alert", 1)):
        assert AuditReport("drift", status, {}).exit_code == code  # type: ignore[arg-type]


def _assert_self_contained(html: str) -> None:
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=""", html, re.IGNORECASE)
    assert "<style>" in html and "<svg" in html


def test_drift_html_is_self_contained_and_shows_drifting_features(tmp_path: Path) -> None:
    report = drift_report()
    html = report.write_html(tmp_path / "drift.html").read_text()
    _assert_self_contained(html)
    assert "ALERT" in html and "Baseline vs current" in html
    for name in report.flagged:
        assert f"<b>{name}</b>" in html


def test_count_style_html_has_bars_and_examples(tmp_path: Path) -> None:
    html = parity_report().write_html(tmp_path / "parity.html").read_text()
    _assert_self_contained(html)
    assert "Counts per group and class" in html and "Examples (1 of 1)" in html


def test_html_escapes_untrusted_text(tmp_path: Path) -> None:
    report = AuditReport("parity", "warn", {}, rows=[{"view": "<script>x</script>"}])
    html = report.write_html(tmp_path / "r.html").read_text()
    assert "<script>x" not in html and "&lt;script&gt;" in html


def test_rich_table_lists_rows_worst_first() -> None:
    console = Console(width=200, record=True)
    console.print(drift_report().rich_table())
    console.print(parity_report().rich_table())
    text = console.export_text()
    assert "drift audit: ALERT" in text and "parity audit: ALERT" in text
    assert text.index("user_stats") < text.index("merchant")
