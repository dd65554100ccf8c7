"""``parity import-feast``: the CLI skin over :mod:`store.feast_import`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from store.cli_errors import fail
from store.errors import StoreError

_out = Console()


def import_feast(
    path: Annotated[
        Path, typer.Argument(help="The Feast feature repo (the folder with feature_store.yaml).")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where to write the Parity repo; default PATH_parity."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite parity.yaml and features.py there.")
    ] = False,
    sample: Annotated[
        int,
        typer.Option(
            "--sample",
            help="Source rows per view probed for where training frames differ from Feast's "
            "join (0 skips the probe).",
        ),
    ] = 10_000,
) -> None:
    """Convert a Feast feature repo into a Parity repo (parity.yaml + features.py), printing
    what could not be converted and why, and where Parity's answers will differ."""
    from store.feast_import import differences, render
    from store.feast_import import import_feast as convert

    result = convert(path, out, force=force)
    diffs = None
    problem = None
    try:
        diffs = differences(result.out, sample=sample)
    except StoreError as exc:
        problem = str(exc)
    for line in render(result, diffs):
        _out.print(line, highlight=False, markup=False, soft_wrap=True)
    if problem is not None:
        raise fail(
            f"the generated repo does not load: {problem}; edit {result.out / 'features.py'}"
        )
