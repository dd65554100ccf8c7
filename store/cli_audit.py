"""``parity audit KIND``: consistency audits (parity, replay, drift, leakage, schema)."""

from __future__ import annotations

import typer

audit_app = typer.Typer(
    help=(
        "Diff what training saw against what serving returns. Every audit prints a summary, "
        "writes --json / --html reports, and exits 1 on alert."
    ),
    no_args_is_help=True,
)
