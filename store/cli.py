"""The ``parity`` command: a thin skin over :class:`store.FeatureStore`.

Library errors become one red line and exit code 2; nothing here talks to DuckDB or Redis.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from store.cli_audit import audit_app
from store.cli_errors import ErrorHandlingGroup, feature_spec, run
from store.cli_feast import import_feast
from store.cli_lab import lab_app

if TYPE_CHECKING:
    from store.feature_store import FeatureStore

app = typer.Typer(
    cls=ErrorHandlingGroup,
    name="parity",
    help=(
        "Parity: a point-in-time correct feature store. Run commands inside a feature repo "
        "(a folder with parity.yaml) or pass --repo PATH. New here? Run `parity quickstart`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
redis_app = typer.Typer(help="Manage the embedded redis-server the store starts by itself.")
app.add_typer(redis_app, name="redis")
app.add_typer(audit_app, name="audit")
app.add_typer(lab_app, name="lab")
app.command("import-feast")(import_feast)
console = Console()

RepoOpt = Annotated[
    Path,
    typer.Option(
        "--repo", "-r", help="Feature repo folder (holding parity.yaml).", show_default=True
    ),
]
FeaturesOpt = Annotated[
    list[str],
    typer.Option(
        "--features",
        "-f",
        help="A feature service name, or 'view:feature' / 'view' (repeat the option).",
    ),
]


def _store(repo: Path) -> FeatureStore:
    from store.feature_store import FeatureStore  # lazily: `parity --help` stays fast

    return FeatureStore(repo)


def _parse_time(text: str | None, *, what: str) -> datetime | None:
    if text is None or text == "now":
        return None if text is None else datetime.now(UTC)
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{what} {text!r} is not an ISO time; use e.g. 2026-11-01T00:00:00Z or 'now'"
        ) from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


@contextmanager
def _view_progress() -> Iterator[Callable[[str, int], None]]:
    """A progress line per view; yields the callback the facade reports rows written to."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=console,
    )
    tasks: dict[str, TaskID] = {}

    def tick(name: str, rows: int) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=None)
        bar.update(tasks[name], completed=rows)

    with bar:
        yield tick


@app.command()
def plan(repo: RepoOpt = Path(".")) -> None:
    """Show what `parity apply` would add, change (with the version bump) and remove."""
    _print_plan(_store(repo).plan(), title="Plan")


@app.command()
def apply(repo: RepoOpt = Path(".")) -> None:
    """Record the repo's definitions in the registry (in the data folder; no server needed)."""
    _print_plan(_store(repo).apply(), title="Applied")


def _print_plan(result: Any, *, title: str) -> None:
    table = Table(title=title)
    for col in ("change", "type", "name", "old version", "new version"):
        table.add_column(col)
    colours = {"add": "green", "change": "yellow", "remove": "red", "unchanged": "dim"}
    for c in result.changes:
        style = colours[c.kind]
        table.add_row(
            f"[{style}]{c.kind}[/]", c.object_type, c.name, c.old_version or "", c.new_version or ""
        )
    console.print(table)
    if not result.has_changes:
        console.print("No changes.")


@app.command()
def validate(
    repo: RepoOpt = Path("."),
    view: Annotated[list[str] | None, typer.Option("--view", help="Only these views.")] = None,
) -> None:
    """Check every source against its declaration: types, null keys and timestamps, rows
    created before their event, conflicting duplicates. Exits 1 when a problem is found."""
    reports = _store(repo).validate(view)
    bad = 0
    for report in reports:
        console.print(report.render())
        bad += 0 if report.ok else 1
    raise typer.Exit(1 if bad else 0)


@app.command("training-frame")
def training_frame(
    entities: Annotated[Path, typer.Option(help="Parquet file: join keys + event_timestamp.")],
    features: FeaturesOpt,
    out: Annotated[Path, typer.Option(help="Where to write the training frame (Parquet).")],
    repo: RepoOpt = Path("."),
    full_feature_names: Annotated[bool, typer.Option(help="Name columns view__feature.")] = False,
) -> None:
    """Build a point-in-time correct training frame and stream it to a Parquet file."""
    frame = _store(repo).get_historical_features(
        entities, feature_spec(features), full_feature_names=full_feature_names, out_path=out
    )
    _print_manifest(frame.manifest)
    console.print(f"Wrote {out}")


def _print_manifest(manifest: dict[str, Any]) -> None:
    table = Table(title=f"Training frame: {manifest.get('rows', '?'):,} rows")
    for col in ("view", "version", "features", "changed vs naive join", "beyond watermark"):
        table.add_column(col)
    for name, info in manifest.get("views", {}).items():
        table.add_row(
            name,
            str(info.get("version", "")),
            ", ".join(info.get("features", [])),
            _count(info.get("leakage", {}).get("changed_vs_naive_join")),
            f"{info.get('beyond_watermark', 0):,}",
        )
    console.print(table)


def _count(value: int | None) -> str:
    """A manifest count; None where it does not apply (a window aggregation chooses no row:
    `parity audit leakage` counts its changed windows)."""
    return "n/a (window: see `parity audit leakage`)" if value is None else f"{value:,}"


@app.command()
def materialize(
    end: Annotated[str, typer.Argument(help="Materialize values as of this time (ISO) or 'now'.")],
    start: Annotated[
        str | None, typer.Option(help="Only keys with rows landed since this time.")
    ] = None,
    view: Annotated[list[str] | None, typer.Option("--view", help="Only these views.")] = None,
    repo: RepoOpt = Path("."),
) -> None:
    """Write the offline value at END of every entity key into the online store."""
    store = _store(repo)
    t_end = _parse_time(end, what="END")
    assert t_end is not None
    with _view_progress() as tick:
        results = store.materialize(
            t_end, start=_parse_time(start, what="--start"), views=view, progress=tick
        )
    _print_materialize(results)


@app.command("materialize-incremental")
def materialize_incremental(
    end: Annotated[str, typer.Argument(help="Up to this time (ISO) or 'now'.")] = "now",
    view: Annotated[list[str] | None, typer.Option("--view", help="Only these views.")] = None,
    repo: RepoOpt = Path("."),
) -> None:
    """Pick up from each view's last committed time, selecting rows by when they landed."""
    store = _store(repo)
    with _view_progress() as tick:
        results = store.materialize_incremental(
            _parse_time(end, what="END"), views=view, progress=tick
        )
    _print_materialize(results)


def _print_materialize(results: list[Any]) -> None:
    table = Table(title="Materialized")
    cols = ("view", "version", "from", "to", "rows", "written", "kept newer", "expired", "seconds")
    for col in cols:
        table.add_column(col)
    for r in results:
        table.add_row(
            r.view,
            r.version,
            r.start.isoformat() if r.start else "(all)",
            r.end.isoformat(),
            f"{r.rows:,}",
            f"{r.written:,}",
            f"{r.skipped_older:,}",
            f"{r.skipped_expired:,}",
            f"{r.seconds:.2f}",
        )
    console.print(table)
    for r in results:
        if getattr(r, "superseded", False):
            console.print(
                f"[yellow]{r.view}: a newer watermark was already committed; END "
                f"{r.end.isoformat()} is older, so the committed watermark stays where it is "
                "(values are compare-and-set: nothing newer was overwritten)[/]"
            )


@app.command()
def get(
    features: FeaturesOpt,
    entity: Annotated[
        list[str],
        typer.Option(
            "--entity",
            "-e",
            help=(
                "One entity row: its join keys and any request data of on-demand features, "
                "as key=value pairs separated by commas, e.g. -e user_id=1,merchant_id=3,"
                "amount=20.5 (repeat -e for more rows). Values are read as their declared "
                "type: 42, 20.5, NaN, true/false, an ISO 8601 time, JSON for a list, null; "
                'put a value with a comma in double quotes: name="a,b".'
            ),
        ),
    ],
    repo: RepoOpt = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    full_feature_names: Annotated[bool, typer.Option(help="Name columns view__feature.")] = False,
) -> None:
    """Read features from the online store: a row per entity and feature with its value,
    status (PRESENT, MISSING, EXPIRED, VERSION_MISMATCH) and age."""
    from store.cli_values import parse_entity

    store = _store(repo)
    spec = feature_spec(features)
    types = store.entity_columns(spec)
    rows = [parse_entity(item, types) for item in entity]
    resp = store.get_online_features(spec, rows, full_feature_names=full_feature_names)
    if as_json:
        console.print_json(json.dumps(resp.to_dict(include_metadata=True), default=str))
        return
    _print_online(resp)


def _print_online(resp: Any) -> None:
    table = Table(title=f"Online features at {resp.read_at:%Y-%m-%d %H:%M:%S} UTC")
    for col in ("entity", "feature", "value", "status", "age"):
        table.add_column(col, justify="right" if col in ("value", "age") else "left")
    colours = {"PRESENT": "green", "MISSING": "dim", "EXPIRED": "yellow"}
    for i, row in enumerate(resp.entity_rows):
        entity = ",".join(f"{k}={v}" for k, v in row.items())
        for col in resp.columns:
            status = str(col.statuses[i])
            value = _fmt(col.values[i]) if status == "PRESENT" else ""
            colour = colours.get(status, "red")
            event = col.event_timestamps[i]
            age = "" if event is None else _age(resp.read_at - event)
            table.add_row(entity, col.name, value, f"[{colour}]{status}[/]", age)
            entity = ""
        table.add_section()
    console.print(table)


def _age(delta: Any) -> str:
    """``now - event_ts`` in its two largest units: ``2d 3h``, ``5h 12m``, ``40s``."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "in the future"
    units = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
    parts = [
        (seconds // size % (24 if u == "h" else 60 if u in "ms" else 10**9), u) for u, size in units
    ]
    shown = [f"{n}{u}" for n, u in parts if n][:2] if seconds else ["0s"]
    return " ".join(shown)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "null" if value is None else str(value)


@app.command()
def push(
    view: Annotated[str, typer.Argument(help="The feature view (or push source) to push to.")],
    file: Annotated[Path, typer.Argument(help="Parquet or CSV file with the view's columns.")],
    to: Annotated[
        str,
        typer.Option("--to", help="online_and_offline, offline (materialize later) or online."),
    ] = "online_and_offline",
    repo: RepoOpt = Path("."),
    push_id: Annotated[
        str | None,
        typer.Option(
            "--push-id",
            help="Idempotency id: rerunning with the same id appends nothing again and "
            "completes the online write (e.g. after Redis was down).",
        ),
    ] = None,
) -> None:
    """Stream rows into a view: stamped as landed now, appended to the offline side, and
    written online where newer than what is there (--to chooses)."""
    result = _store(repo).push(view, file, to=to, push_id=push_id)
    if result.status == "duplicate":
        console.print(f"Push {result.push_id} had already landed: nothing appended again.")
    files = [r.path for r in result.views or [result] if r.path is not None]
    console.print(
        f"Pushed {result.rows:,} rows to {view} ({result.to}): {result.written:,} written "
        f"online, {result.skipped_older:,} kept newer values, {result.dropped_late:,} dropped "
        f"as late; offline file(s) {', '.join(map(str, files)) or 'none'}"
    )


@app.command()
def features(
    repo: RepoOpt = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List feature views, their features, types, versions, ttl and owners."""
    rows = _store(repo).list_features()
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title="Feature views")
    for col in ("view", "kind", "version", "applied", "keys", "features", "ttl", "owner"):
        table.add_column(col)
    for r in rows:
        applied = "yes" if r["applied_version"] == r["version"] else "[yellow]no[/]"
        ttl = "none" if r["ttl_seconds"] is None else f"{r['ttl_seconds'] / 3600:g}h"
        feats = ", ".join(f"{k}:{v}" for k, v in r["features"].items())
        if r["kind"] == "on_demand":
            ttl = "(its sources')"
            feats += " <- " + ", ".join(r["sources"])
            if r["request_fields"]:
                request = ", ".join(f"{k}:{v}" for k, v in r["request_fields"].items())
                feats += f"; request data {request}"
        table.add_row(
            r["view"],
            r["kind"],
            r["version"],
            applied,
            ", ".join(r["join_keys"]),
            feats,
            ttl,
            r["owner"],
        )
    console.print(table)


@redis_app.command("status")
def redis_status(repo: RepoOpt = Path(".")) -> None:
    """Say which Redis the repo uses and whether it answers (never starts or stops it).

    The exit code is the state, as `systemctl is-active` does: 0 it answers, 1 it does not
    (a problem found: the online store is down), 2 an error (no parity.yaml, bad config)."""
    store = _store(repo)
    up, where = store.online.status()
    if up:
        console.print(f"Redis at {where} answers.")
        return
    console.print(f"Redis at {where} is not running.")
    raise typer.Exit(1)


@redis_app.command("stop")
def redis_stop(repo: RepoOpt = Path(".")) -> None:
    """Stop the embedded redis-server of this repo (its data is kept on disk)."""
    from store.online.embedded import stop_embedded

    store = _store(repo)
    stopped = stop_embedded(store.data_dir)
    console.print("Stopped the embedded redis-server." if stopped else "It was not running.")


@app.command()
def serve(
    repo: RepoOpt = Path("."),
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 for all.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (Feast's default).")] = 6566,
    workers: Annotated[int, typer.Option(help="Worker processes (about one per core).")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log one line per request.")] = False,
) -> None:
    """Run the feature server (Feast-compatible HTTP API) for the repo until interrupted.
    Apply and materialize first; see docs/server.md for the endpoints. Ctrl-C or SIGTERM is
    its normal end: a graceful shutdown, exit 0."""
    from store.server.run import serve as run_server

    run_server(repo, host, port, workers, access_log=access_log)


@app.command()
def bench(
    part: Annotated[
        list[str] | None,
        typer.Option(
            "--part", help="offline, online, server, audit or aggregate (repeat; default all)."
        ),
    ] = None,
    scale: Annotated[
        str, typer.Option(help="Offline scale: small (1M x 100k) or large (10M x 1M).")
    ] = "small",
    data: Annotated[Path, typer.Option(help="Folder for generated benchmark data.")] = Path(
        "bench-data"
    ),
    memory_limit: Annotated[str, typer.Option(help="DuckDB memory limit.")] = "4GB",
    repeat: Annotated[
        int,
        typer.Option(
            min=1,
            help="Offline: run every case this many times, interleaved; keep each case's "
            "fastest time and the median ratio to the plain ASOF join (use 3+ on a busy "
            "machine).",
        ),
    ] = 1,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the results as JSON here.")
    ] = None,
) -> None:
    """Measure speed and memory against the raw engines (a hand-written DuckDB query, a raw
    redis-py pipeline, a minimal FastAPI handler), all in the same run; prints tables."""
    parts = part or ["offline", "online", "server", "audit", "aggregate"]
    unknown = set(parts) - {"offline", "online", "server", "audit", "aggregate"}
    if unknown:
        raise typer.BadParameter(
            f"unknown --part {sorted(unknown)}; use offline/online/server/audit/aggregate"
        )
    results: dict[str, list[dict[str, Any]]] = {}
    for name in parts:
        console.rule(f"[bold]bench: {name}")
        with console.status(f"running the {name} benchmark..."):
            results[name] = _bench_part(name, scale, data, memory_limit, repeat)
        _print_rows(f"{name} ({scale})" if name == "offline" else name, results[name])
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(results, indent=2, default=str))
        console.print(f"Wrote {json_out}")


def _bench_part(
    name: str, scale: str, data: Path, memory_limit: str, repeat: int
) -> list[dict[str, Any]]:
    if name == "offline":
        from store import bench_offline

        return bench_offline.run(scale, data / "offline", memory_limit=memory_limit, repeat=repeat)
    if name == "online":
        from store import bench_online

        return bench_online.run(None, data_dir=data / "online")
    if name == "server":
        from store import bench_server

        return bench_server.run()
    if name == "aggregate":
        from store import bench_aggregate

        return bench_aggregate.run(data / "aggregate")
    from store import bench_audit

    return bench_audit.run(data / "audit")


def _print_rows(title: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=title)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    for col in columns:
        table.add_column(col, justify="right" if rows and _numeric(rows, col) else "left")
    for r in rows:
        table.add_row(*(_fmt(r.get(c)) if r.get(c) is not None else "" for c in columns))
    console.print(table)


def _numeric(rows: list[dict[str, Any]], col: str) -> bool:
    return all(isinstance(r.get(col), int | float) for r in rows if r.get(col) is not None)


@app.command()
def quickstart(
    repo: Annotated[
        Path | None,
        typer.Option(
            "--repo",
            "-r",
            help="The example feature repo to run in; default definitions/ (or the current "
            "folder when it holds parity.yaml). Any other repo is refused (exit 2).",
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Only say whether the repo is the example the quickstart runs on (exit 0) "
            "or not (exit 2); write nothing.",
        ),
    ] = False,
    fresh: Annotated[bool, typer.Option(help="Regenerate the sample data first.")] = False,
    plant_skew: Annotated[
        bool,
        typer.Option(
            "--plant-skew",
            help="Plant known defects (a late-landing backfill, a tampered online value, a "
            "drifted feature) into fresh sample data: each audit must find exactly its own "
            "(exit code 1).",
        ),
    ] = False,
) -> None:
    """Run the whole job on the example fraud repo: generate sample data, apply, build a
    training frame, materialize to Redis, read online, audit, and give a verdict. Exits 0
    when every audit is OK, 1 when one alerts. It runs only on the example (it defines
    fraud_v2 and reads only the sample's files, and its data folder is empty or holds the
    sample's sample.json): any other repo is refused with exit 2 and nothing is touched."""
    from store.quickstart import check_example, run

    if repo is None:
        repo = Path("definitions") if not Path("parity.yaml").exists() else Path(".")
    if not (repo / "parity.yaml").exists():
        raise typer.BadParameter(
            f"{repo} has no parity.yaml: run from Parity's top folder (the example repo is "
            "definitions/), or pass --repo"
        )
    if check:
        check_example(_store(repo))
        console.print(f"{repo} is the example: `parity quickstart` runs on it.")
        return
    result = run(repo, console, fresh=fresh, plant=plant_skew)
    raise typer.Exit(result.exit_code)


def main() -> None:
    """Entry point of the ``parity`` script (errors: see :mod:`store.cli_errors`)."""
    run(app)
