"""``parity quickstart``: the whole job end to end on the example repo's sample data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from store.feature_store import FeatureStore
from store.sample import entity_frame, generate

SERVICE = "fraud_v2"  # fraud_v1 + the window aggregations of user_txn_agg


def run(repo: Path, console: Console, *, fresh: bool = False) -> FeatureStore:
    """Generate sample data (if needed), then apply, train, materialize, read and audit."""
    fs = FeatureStore(repo)
    step = _steps(console)

    step("Sample data")
    marker = fs.data_dir / "transactions.parquet"
    if fresh or not marker.exists():
        summary = generate(fs.data_dir)
        console.print(
            f"  wrote {len(summary.files)} Parquet files to {fs.data_dir}: "
            f"{summary.transactions:,} transactions, {summary.users:,} users, "
            f"{summary.merchants:,} merchants; {summary.late_rows:,} late rows and "
            f"{summary.corrected_rows:,} corrections in user_txn_stats"
        )
    else:
        console.print(f"  using existing sample data in {fs.data_dir} (--fresh to regenerate)")

    step("Apply definitions")
    plan = fs.apply()
    for change in plan.changes:
        if change.kind != "unchanged":
            console.print(
                f"  {change.kind} {change.object_type} {change.name} {change.new_version}"
            )
    console.print(f"  {len(fs.definitions.views)} views, {len(fs.definitions.services)} services")

    step("Validate sources")
    for report in fs.validate():
        console.print("  " + report.render().splitlines()[0])

    step("Training frame")
    entities = entity_frame(fs.data_dir)
    out = fs.data_dir / "training_frame.parquet"
    frame = fs.get_historical_features(entities, SERVICE, out_path=out)
    manifest = frame.manifest
    console.print(f"  {manifest['rows']:,} rows x {SERVICE} -> {out}")
    for name, info in manifest["views"].items():
        leak = info["leakage"]
        if leak["changed_vs_naive_join"] is None:  # an aggregation view: no row is chosen
            continue
        console.print(
            f"  {name}: {leak['changed_vs_naive_join']:,} values differ from a naive join "
            f"({leak['naive_value_not_yet_landed']:,} had not landed, "
            f"{leak['naive_value_beyond_allowed_lateness']:,} were too late); "
            f"{info['beyond_watermark']:,} rows ask beyond the source watermark"
        )
    _print_head(console, frame.to_arrow().slice(0, 3))

    step("Materialize to Redis")
    now = datetime.now(UTC)
    for result in fs.materialize_incremental(now):
        since = f"since {result.start:%Y-%m-%d %H:%M}" if result.start else "all keys"
        console.print(
            f"  {result.view}: {result.written:,} keys written ({since}, as of "
            f"{result.end:%Y-%m-%d %H:%M} UTC) in {result.seconds:.2f}s"
        )

    step("Online read")
    rows = [  # amount: request data of the on-demand feature txn_ratio
        {"user_id": u, "merchant_id": m, "amount": a}
        for u, m, a in [(1, 17, 12.5), (2, 3, 250.0), (3, 5, 40.0), (999_999, 1, 9.99)]
    ]
    response = fs.get_online_features(SERVICE, rows)
    # One row per feature, one column per entity: fits a terminal however many features.
    table = Table(title="Online features (status instead of a value where there is none)")
    table.add_column("feature")
    for row in rows:
        table.add_column(f"user {row['user_id']}\nmerchant {row['merchant_id']}", justify="right")
    for col in response.columns:
        cells = [
            _cell(value) if str(status) == "PRESENT" else f"[yellow]{status}[/]"
            for value, status in zip(col.values, col.statuses, strict=True)
        ]
        table.add_row(col.name, *cells)
    console.print(table)

    step("Audit")
    _audit(fs, console, entities)
    return fs


def _audit(fs: FeatureStore, console: Console, entities: pa.Table) -> None:
    """Parity right after materializing (expect zero differences), then the leakage audit of
    the training request: the example repo's late and corrected rows are what it shows."""
    parity = fs.audit_parity()
    leakage = fs.audit_leakage(entities, SERVICE)
    for report in (parity, leakage):
        console.print(report.rich_table())
        console.print(f"  {report.kind}: {report.status} — {report.summary['headline']}")
        path = report.write_html(fs.data_dir / f"audit_{report.kind}.html")
        console.print(f"  report: {path}")


def _print_head(console: Console, rows: pa.Table) -> None:
    """The first rows, transposed (a column per row), so wide frames stay readable."""
    table = Table(title="First rows of the training frame")
    table.add_column("column")
    for i in range(rows.num_rows):
        table.add_column(f"row {i}", justify="right")
    for name in rows.column_names:
        table.add_row(name, *(_cell(v) for v in rows.column(name).to_pylist()))
    console.print(table)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return f"{value:%m-%d %H:%M}"
    return "null" if value is None else str(value)


def _steps(console: Console):  # type: ignore[no-untyped-def]
    counter = iter(range(1, 100))

    def step(title: str) -> None:
        console.rule(f"[bold]{next(counter)}. {title}")

    return step
