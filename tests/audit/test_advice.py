"""Every class of finding an audit can alert on has a next step (store.audit.advice)."""

from __future__ import annotations

from store.audit import leakage, parity, replay
from store.audit.advice import STEPS, next_steps
from store.audit.html import render_html
from store.audit.report import AuditReport


def test_every_alerting_class_has_a_next_step() -> None:
    alerting = {
        parity.MISSING,
        parity.EXTRA,
        parity.STALE,
        parity.VERSION,
        parity.VALUE,
        parity.TYPE,
        parity.UNEXPECTED,
        parity.NOT_MATERIALIZED,
        parity.NULLED,
    }
    assert alerting <= set(STEPS["parity"])
    assert set(replay.CAUSES) <= set(STEPS["replay"])
    assert {leakage.WATERMARK, leakage.OTHER} <= set(STEPS["leakage"])
    assert {"online type", "output type", "unseen category"} <= set(STEPS["schema"])


def test_an_alert_says_what_to_do_and_an_ok_report_does_not() -> None:
    rows = [{"view": "v", "feature": "f", "status": "alert", "count": 2}]
    counts = {"v": {parity.VALUE: 2}, "w": {}}
    report = AuditReport("parity", "alert", {"differences": 2}, rows, counts=counts)
    assert next_steps(report) == [(f"{parity.VALUE} (v)", STEPS["parity"][parity.VALUE])]
    page = render_html(report)
    assert "What to do next" in page and "parity materialize" in page
    assert ">w <" not in page  # a group with nothing counted draws no empty box
    ok = AuditReport("parity", "ok", {"differences": 0}, [{**rows[0], "status": "ok"}])
    assert next_steps(ok) == [] and "What to do next" not in render_html(ok)


def test_cells_show_no_raw_lists_or_dicts() -> None:
    rows = [{"view": "v", "status": "ok", "reasons": [], "naive": {"a_b": 1}, "empty": None}]
    page = render_html(AuditReport("schema", "ok", {}, rows))
    body = page.split("</style>")[1]
    assert "[]" not in body and "{" not in body
    assert "<th>empty</th>" not in page  # a column empty in every row is left out
