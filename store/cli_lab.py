"""``parity lab skew``: the skew lab (what training-serving skew costs a model).

Heavy modules (scikit-learn, DuckDB, the store) load only when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

lab_app = typer.Typer(
    help="Labs that measure what training-serving skew costs a model (needs the 'lab' extra).",
    no_args_is_help=True,
)
console = Console()


@lab_app.command("skew")
def skew(
    size: Annotated[
        int, typer.Option(min=200, help="Cards in the generated data; transactions scale with it.")
    ] = 2_000,
    seed: Annotated[int, typer.Option(help="Seeds the data, sampling, model and bootstrap.")] = 17,
    out: Annotated[Path, typer.Option(help="Folder for report.html and report.json.")] = Path(
        "skew-lab"
    ),
    redis_url: Annotated[
        str | None,
        typer.Option(help="Serve from this Redis (redis://...); default an embedded one."),
    ] = None,
) -> None:
    """Train the same fraud model four ways (naive join, ingestion-time join, tumbling vs
    sliding window, Parity), score each on what serving returned, and run Parity's audits on
    each. Prints a table; writes an HTML report with a plot and JSON. Exits 1 when a target
    of the lab is not met."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise typer.BadParameter(
            "the skew lab needs scikit-learn: pip install 'parity-store[lab]'"
        ) from None
    from store.lab.report import rich_table, targets_lines, write_html, write_json
    from store.lab.skew import run

    with console.status("running the skew lab...") as status:
        result = run(size, seed=seed, redis_url=redis_url, progress=status.update)
    console.print(rich_table(result))
    for line in targets_lines(result):
        console.print(("[green]" if line.startswith("met") else "[red]") + line + "[/]")
    console.print(f"Wrote {write_html(result, out / 'report.html')}")
    console.print(f"Wrote {write_json(result, out / 'report.json')}")
    console.print(f"{result.seconds:.1f} s")
    raise typer.Exit(0 if all(result.targets().values()) else 1)
