"""``parity quickstart``: the whole job end to end on the example repo's sample data.

Sample data -> apply -> validate -> training frame -> materialize -> online read -> audits ->
a verdict. The sample data is stationary and ends now, so a clean run ends with every audit
OK. With ``plant_skew`` three known defects are planted (see :func:`store.sample.plant_skew`
and :func:`tamper_online_value`) and every audit must find exactly its own.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from store.audit.leakage import CAUSES, GUARD, OTHER, WATERMARK
from store.audit.report import AuditReport
from store.definitions import ParquetSource
from store.errors import NotTheExampleError
from store.feature_store import FeatureStore
from store.registry import load_definitions
from store.sample import BACKFILL_VIEW, DRIFTED, PlantedData, entity_frame, generate, plant_skew
from store.served_log import SERVED_DIR

SERVICE = "fraud_v2"  # fraud_v1 + the window aggregations of user_txn_agg + txn_ratio
MARKER = "sample.json"
STALE_AFTER = timedelta(hours=1)
#: what the sample generator writes at the top of the data folder (the example's sources)
SAMPLE_FILES = (
    "transactions.parquet",
    "user_txn_stats",
    "user_profile.parquet",
    "merchant_risk.parquet",
)
#: the online value :func:`tamper_online_value` overwrites: user 1's credit limit, as text
TAMPERED_VIEW, TAMPERED_FEATURE, TAMPERED_KEY = "user_profile", "credit_limit", {"user_id": 1}
#: what the example must define for the quickstart to run on it
NEEDED_VIEWS = (TAMPERED_VIEW, BACKFILL_VIEW, DRIFTED[0])
LIVE_ROWS = 1_000  # entity rows read online for the drift audit's "what is served now"


@dataclass
class QuickstartResult:
    """What the quickstart did: the audits' reports and what was planted."""

    store: FeatureStore
    reports: list[AuditReport] = field(default_factory=list)
    planted: PlantedData | None = None

    @property
    def exit_code(self) -> int:
        """1 when an audit alerted (the planted defects, or a real problem), else 0."""
        return max((r.exit_code for r in self.reports), default=0)


def run(
    repo: Path, console: Console, *, fresh: bool = False, plant: bool = False
) -> QuickstartResult:
    """Generate sample data (if needed), then apply, train, materialize, read and audit.

    Raises:
        NotTheExampleError: ``repo`` is not the example (see :func:`check_example`); nothing
            was written or deleted.
    """
    fs = FeatureStore(repo)
    check_example(fs)
    result = QuickstartResult(fs)
    step = _steps(console)

    step("Sample data")
    regenerated = _sample_data(fs, console, fresh=fresh or plant)
    entities = entity_frame(fs.data_dir)
    if plant:
        end = datetime.fromisoformat(json.loads((fs.data_dir / MARKER).read_text())["end"])
        result.planted = plant_skew(fs.data_dir, entities, end)
        _record_written(fs.data_dir, [result.planted.backfill_path])
        console.print(
            f"  planted: a late-landing backfill ({result.planted.backfill_rows} rows of "
            f"user_txn_stats landed now, days after their events) and a drifted feature "
            f"({result.planted.drifted_feature} x{result.planted.drift_factor:g} in the "
            "latest snapshot); the tampered online value follows the materialization"
        )

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
    out = fs.data_dir / "training_frame.parquet"
    frame = fs.get_historical_features(entities, SERVICE, out_path=out)
    console.print(f"  {frame.manifest['rows']:,} rows x {SERVICE} -> {out}")
    for name, info in frame.manifest["views"].items():
        console.print(f"  {name}: {_leak_line(info)}")
    _print_head(console, frame.to_arrow().slice(0, 3))

    step("Materialize to Redis")
    _materialize(fs, console, full=regenerated)
    if plant:
        tamper_online_value(fs)
        console.print(
            f"  planted: user 1's {TAMPERED_FEATURE} overwritten online with text '1000' "
            "(a tampered online value of the wrong type)"
        )

    step("Online read")
    _online_read(fs, console)

    step("Audit")
    result.reports = _audit(fs, console, entities, out)

    step("Verdict")
    _verdict(fs, console, result)
    return result


def _sample_data(fs: FeatureStore, console: Console, *, fresh: bool) -> bool:
    """Generate the sample data when asked, missing or stale; True when it was generated."""
    marker = fs.data_dir / MARKER
    reason = "--fresh" if fresh else None
    if reason is None and not marker.exists():
        reason = "no sample data yet"
    if reason is None:
        end = datetime.fromisoformat(json.loads(marker.read_text())["end"])
        if datetime.now(UTC) - end > STALE_AFTER:
            reason = f"the sample data ends {end:%Y-%m-%d %H:%M} UTC: more than an hour ago"
    if reason is None:
        console.print(f"  using the sample data in {fs.data_dir} (--fresh to regenerate)")
        return False
    _remove_sample(fs.data_dir, console)
    summary = generate(fs.data_dir)
    marker.write_text(json.dumps({"end": summary.end.isoformat()}))
    _record_written(fs.data_dir, summary.files)
    console.print(
        f"  {reason}: wrote {len(summary.files)} Parquet files to {fs.data_dir}: "
        f"{summary.transactions:,} transactions, {summary.users:,} users, "
        f"{summary.merchants:,} merchants over 30 days up to {summary.end:%Y-%m-%d %H:%M} UTC; "
        f"{summary.late_rows:,} user stats rows landed hours late (within allowed_lateness) "
        f"and {summary.corrected_rows:,} were corrected"
    )
    return True


def check_example(fs: FeatureStore) -> None:
    """Refuse to run anywhere but on the example: the quickstart writes sample data over the
    sources, overwrites the training frame and empties the online views, so it runs only on
    a repo that defines the example (the service, the views it plants defects into, each
    reading a file the sample generator writes) and whose data folder is absent, empty, or
    holds the sample's own marker file.

    Raises:
        NotTheExampleError: naming the repo, what is missing or in the way, and what to do.
    """
    what_to_do = (
        "the quickstart runs only on the example fraud repo (it writes sample data and "
        "empties the online views): run `parity quickstart --repo definitions` from a Parity "
        "checkout, or copy definitions/parity.yaml and definitions/features.py to an empty "
        "folder and run it there"
    )
    defs = load_definitions(fs.repo, skip=[fs.data_dir])  # not checked: no data yet, maybe
    missing = [f"feature service {SERVICE!r}"] if SERVICE not in defs.services else []
    missing += [f"feature view {v!r}" for v in NEEDED_VIEWS if v not in defs.views]
    if missing:
        raise NotTheExampleError(
            f"{fs.repo} is not the example: it does not define {', '.join(missing)}; " + what_to_do
        )
    data = fs.data_dir.resolve()
    for view in defs.views.values():
        source = view.source
        path = Path(source.path) if isinstance(source, ParquetSource) else None
        if path is not None and not path.is_absolute():
            path = (fs.repo / path).resolve()
        if path is None or path.parent != data or path.name not in SAMPLE_FILES:
            raise NotTheExampleError(
                f"{fs.repo} is not the example: view {view.name!r} reads "
                f"{getattr(source, 'path', type(source).__name__)}, not a file of the sample "
                f"data ({', '.join(SAMPLE_FILES)} in {fs.data_dir}); " + what_to_do
            )
    if fs.data_dir.exists() and not (fs.data_dir / MARKER).exists():
        held = sorted(p.name for p in fs.data_dir.iterdir())
        if held:
            shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
            raise NotTheExampleError(
                f"{fs.data_dir} holds data that is not the quickstart's sample ({shown}; no "
                f"{MARKER}): the quickstart would overwrite it, so it does not run; " + what_to_do
            )


def _record_written(data_dir: Path, files: list[Path]) -> None:
    """Add ``files`` to the marker's list of what the sample generator wrote (all it ever
    deletes)."""
    marker = data_dir / MARKER
    state = json.loads(marker.read_text())
    written = [*state.get("files", []), *(str(Path(f).relative_to(data_dir)) for f in files)]
    marker.write_text(json.dumps(state | {"files": sorted(set(written))}))


def _remove_sample(data_dir: Path, console: Console) -> None:
    """Delete the files the sample generator wrote (listed in the marker) and nothing else;
    the old sample's served log is moved aside (it logged values of the old data)."""
    marker = data_dir / MARKER
    if not marker.exists():
        return
    state = json.loads(marker.read_text())
    if "files" not in state:  # a marker of an older version: the generator's own outputs
        for name in SAMPLE_FILES:
            if (data_dir / name).is_dir():
                shutil.rmtree(data_dir / name)
        state["files"] = [name for name in SAMPLE_FILES if (data_dir / name).is_file()]
    for name in state["files"]:
        path = (data_dir / name).resolve()
        if path.is_file() and path.is_relative_to(data_dir.resolve()):
            path.unlink()
            for parent in path.parents:  # folders the generator made, once empty
                if parent == data_dir.resolve() or any(parent.iterdir()):
                    break
                parent.rmdir()
    served = data_dir / SERVED_DIR
    if served.exists():
        end = datetime.fromisoformat(state["end"])
        aside = data_dir / f"{SERVED_DIR}-until-{end:%Y%m%dT%H%M%S}"
        served.rename(aside)
        console.print(f"  the old sample's served log moved to {aside}")
    marker.unlink()


def _leak_line(info: dict[str, Any]) -> str:
    """One view's "changed vs a naive join" from the manifest (the leakage audit's figures)."""
    leak = info["leakage"]
    if leak["changed_vs_naive_join"] is None:
        return (
            "a window aggregation: it chooses no single row, so its changed windows are "
            "counted by the leakage audit (step 7)"
        )
    text = f"{leak['changed_vs_naive_join']:,} values differ from a naive event-time join"
    parts = []
    if leak["naive_value_beyond_allowed_lateness"]:
        overlap = leak["beyond_allowed_lateness_and_not_yet_landed"]
        parts.append(
            f"{leak['naive_value_beyond_allowed_lateness']:,} landed later than "
            f"allowed_lateness ({overlap:,} of them had not landed at t either)"
        )
    parts.append(f"{leak['naive_value_not_yet_landed']:,} had not landed at t")
    if leak["unexplained"]:
        parts.append(f"{leak['unexplained']:,} unexplained")
    beyond = info["beyond_watermark"]
    return f"{text}: {', '.join(parts)}; {beyond:,} rows ask beyond the source's watermark"


def _materialize(fs: FeatureStore, console: Console, *, full: bool) -> None:
    now = datetime.now(UTC)
    if full:  # new sample data: start the online store afresh
        for view in fs.definitions.views:
            fs.online.delete_view(view)
        results = fs.materialize(now)
    else:
        results = fs.materialize_incremental(now)
    for r in results:
        since = f"since {r.start:%Y-%m-%d %H:%M}" if r.start else "all keys"
        console.print(
            f"  {r.view}: {r.written:,} keys written ({since}, as of {r.end:%Y-%m-%d %H:%M} "
            f"UTC) in {r.seconds:.2f}s"
        )


def tamper_online_value(fs: FeatureStore) -> None:
    """Overwrite one online value behind the store's back, with a payload of the wrong type
    (the planted defect the parity, schema and replay audits must find)."""
    from store.online.codec import encode
    from store.online.keys import entity_keys_from_rows, key_prefix, key_suffix
    from store.types import ValueType

    view = fs.definitions.view(TAMPERED_VIEW)
    [entity] = entity_keys_from_rows([TAMPERED_KEY], view.join_keys)
    key = key_prefix(fs.config.project) + entity + key_suffix(view.name)
    fs.online.client.hset(key, TAMPERED_FEATURE, encode("1000", ValueType("string")))


def _online_read(fs: FeatureStore, console: Console) -> None:
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


def live_rows(fs: FeatureStore, n: int = LIVE_ROWS, seed: int = 5) -> list[dict[str, Any]]:
    """``n`` entity rows as live traffic would send them now: a user and a merchant drawn
    uniformly (as transactions pick them) and the amount of a random past transaction.

    Drawn independently of recent activity on purpose: rows of users who transacted just now
    would count their own transaction in every window, which training rows (features strictly
    before the label's time) never do, and the drift audit would rightly flag it.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    tx = pq.read_table(fs.data_dir / "transactions.parquet")
    rng = np.random.default_rng(seed)
    users = int(pc.max(tx.column("user_id")).as_py())
    merchants = int(pc.max(tx.column("merchant_id")).as_py())
    amounts = tx.column("amount").take(pa.array(rng.choice(tx.num_rows, n))).to_pylist()
    return [
        {"user_id": int(u), "merchant_id": int(m), "amount": a}
        for u, m, a in zip(
            rng.integers(1, users + 1, n), rng.integers(1, merchants + 1, n), amounts, strict=True
        )
    ]


def _audit(
    fs: FeatureStore, console: Console, entities: pa.Table, frame_path: Path
) -> list[AuditReport]:
    """Parity (online == offline), schema, leakage of the training request, and drift of the
    training frame against what is served now; an HTML report each."""
    live = _typed(fs, fs.get_online_features(SERVICE, live_rows(fs)))
    reports = [
        fs.audit_parity(),
        fs.audit_schema(),  # every online key (the default)
        fs.audit_leakage(entities, SERVICE),
        fs.audit_drift(frame_path, live),
    ]
    for report in reports:
        console.print(report.rich_table())
        colour = {"ok": "green", "warn": "yellow", "alert": "red"}[report.status]
        console.print(
            f"  {report.kind}: [{colour}]{report.status.upper()}[/] — "
            f"{report.summary.get('headline', '')}"
        )
        report.write_html(fs.data_dir / "reports" / f"{report.kind}.html")
    return reports


def _typed(fs: FeatureStore, response: Any) -> pa.Table:
    """The response's values as a table of the declared types (an int64 with nulls stays
    an integer, as in the training frame). A value of another type (a tampered payload) is
    left out as null, as the drift audit does with the served log: types are the schema
    audit's business."""
    defs = fs.definitions
    columns = {}
    for col in response.columns:
        view = defs.on_demand.get(col.view) or defs.view(col.view)
        dtype = view.field(col.feature).type.arrow
        try:
            columns[col.name] = pa.array(col.values, type=dtype)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[col.name] = pa.array([_fits(v, dtype) for v in col.values], type=dtype)
    return pa.table(columns)


def _fits(value: Any, dtype: pa.DataType) -> Any:
    try:
        pa.array([value], type=dtype)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return value


def _verdict(fs: FeatureStore, console: Console, result: QuickstartResult) -> None:
    by_kind = {r.kind: r for r in result.reports}
    leakage, parity = by_kind["leakage"], by_kind["parity"]
    lines = []
    if result.planted is None:
        lines.append(
            "All audits OK." if result.exit_code == 0 else "[red]An audit alerted: see above.[/]"
        )
    else:
        lines.append("Planted defects, and the audit that found each:")
        lines += [f"  {kind}: {_finding(by_kind[kind])}" for kind in by_kind]
    lines += leakage_lines(leakage)
    keys = parity.summary["keys"]
    if parity.status == "ok":
        lines.append(f"Online equals offline: 0 differences in {keys:,} keys read back.")
    else:
        lines.append(f"Online differs from offline: {parity.summary['headline']}.")
    lines.append(f"HTML reports: {fs.data_dir / 'reports'}/{{parity,schema,leakage,drift}}.html")
    repo = _shown(fs.repo)
    lines += [
        "Next:",
        f"  parity serve --repo {repo}            # the feature server on :6566",
        "  curl -s localhost:6566/get-online-features -d "
        '\'{"feature_service": "fraud_v2", "entities": {"user_id": [1], "merchant_id": [3], '
        '"amount": [20.5]}}\'',
        f"  parity audit replay --repo {repo}     # served values recomputed offline",
        f"  parity audit drift --repo {repo} --baseline {_shown(fs.data_dir)}/"
        "training_frame.parquet",
        f"  parity quickstart --repo {repo} --plant-skew   # the audits catching planted defects",
        f"The embedded Redis keeps running for the next commands; stop it with "
        f"`parity redis stop --repo {repo}`.",
    ]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)


def leakage_lines(report: AuditReport) -> list[str]:
    """The verdict's leakage lines: the leaks prevented are the leakage guard's count only
    (values that had not landed at the label's time); values a naive join differs on for
    another cause (landed later than allowed_lateness, unexplained) are said apart."""
    by_cause = {c: sum(v.get(c, 0) for v in report.counts.values()) for c in CAUSES}
    examples = _two_examples(report)
    lines = [
        f"Parity prevented {by_cause[GUARD]:,} leaks: values a naive event-time join would "
        "have put in this training frame although they had not landed at the label's time."
        + (" For example:" if examples else "")
    ]
    lines += [f"  - {_example_line(e)}" for e in examples]
    others = []
    if by_cause[WATERMARK]:
        others.append(
            f"{by_cause[WATERMARK]:,} values a naive join would take landed later than "
            "allowed_lateness (a late backfill: the watermark rule drops them, and the leakage "
            "audit alerts)"
        )
    if by_cause[OTHER]:
        others.append(
            f"{by_cause[OTHER]:,} values differ from a naive join for no known cause "
            "(unexplained: the leakage audit alerts)"
        )
    lines += [f"Besides: {line}." for line in others]
    return lines


def _finding(report: AuditReport) -> str:
    colour = "red" if report.status == "alert" else "green"
    return f"[{colour}]{report.status}[/] — {report.summary.get('headline', '')}"


def _two_examples(report: AuditReport) -> list[dict[str, Any]]:
    found = [e for e in report.examples if "naive_event_ts" in e and e["cause"] == GUARD]
    return found[:1] + [e for e in found if e["view"] != found[0]["view"]][:1] if found else []


def _example_line(e: dict[str, Any]) -> str:
    keys = ", ".join(f"{k}={e[k]}" for k in ("user_id", "merchant_id") if k in e)
    naive = ", ".join(f"{k}={_cell(v)}" for k, v in e["naive"].items())
    guarded = ", ".join(f"{k}={_cell(v)}" for k, v in e["guarded"].items())
    return (
        f"{e['view']} ({keys}) at {_cell(e['t'])}: a naive join takes {naive} from the row of "
        f"{_cell(e['naive_event_ts'])} that landed at {_cell(e['naive_created_ts'])} "
        f"({e['cause']}); Parity uses {guarded}"
    )


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


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
