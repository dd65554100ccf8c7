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


def test_every_command_a_next_step_names_parses_as_written() -> None:
    # `parity materialize` without its END argument was advised, and fails with a usage error.
    import re

    import click
    import typer

    from store.audit.advice import DRIFT, DRIFT_DEFAULT
    from store.cli import app

    root = typer.main.get_command(app)
    texts = [t for steps in STEPS.values() for t in steps.values()]
    commands = {
        c
        for t in [*texts, *DRIFT.values(), DRIFT_DEFAULT]
        for c in re.findall(r"`(parity [^`]*)`", t)
    }
    assert any(c.startswith("parity materialize ") for c in commands), commands
    for command in commands:
        args = command.split()[1:]
        group: click.Command = root
        while isinstance(group, click.Group) and args and args[0] in group.commands:
            group = group.commands[args.pop(0)]
        group.make_context(command, list(args))  # raises a UsageError if it does not parse
