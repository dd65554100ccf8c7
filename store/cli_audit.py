"""``parity audit KIND``: consistency audits (parity, replay, drift, leakage, schema).

Every command prints a short summary table, can write ``--json`` and ``--html`` reports and
POST the report to ``--webhook`` on alert, and exits 0 within thresholds, 1 on alert. Library
errors reach ``store.cli.main``, which prints them as one line with exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from store.cli_errors import feature_spec

if TYPE_CHECKING:
    from store.audit.report import AuditReport
    from store.feature_store import FeatureStore

audit_app = typer.Typer(
    help=(
        "Diff what training saw against what serving returns. Every audit prints a summary, "
        "writes --json / --html reports, and exits 1 on alert."
    ),
    no_args_is_help=True,
)
console = Console()

RepoOpt = Annotated[
    Path, typer.Option("--repo", "-r", help="Feature repo folder (holding parity.yaml).")
]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Write the report as JSON here.")]
HtmlOpt = Annotated[
    Path | None, typer.Option("--html", help="Write a self-contained HTML report here.")
]
HookOpt = Annotated[
    str | None, typer.Option("--webhook", help="POST the report to this URL on alert.")
]
ViewsOpt = Annotated[
    list[str] | None, typer.Option("--view", "-v", help="Audit this view (repeat); default all.")
]


def _store(repo: Path) -> FeatureStore:
    from store.feature_store import FeatureStore  # lazily: `parity --help` stays fast

    return FeatureStore(repo)


def _finish(
    report: AuditReport, json_path: Path | None, html: Path | None, hook: str | None
) -> None:
    console.print(report.rich_table())
    headline = report.summary.get("headline")
    console.print(
        f"[bold]{report.kind}[/]: {report.status}" + (f" — {headline}" if headline else "")
    )
    if json_path is not None:
        console.print(f"JSON report: {report.write_json(json_path)}")
    if html is not None:
        console.print(f"HTML report: {report.write_html(html)}")
    if hook is not None and report.status == "alert":
        from store.audit.webhook import post_webhook

        post_webhook(hook, report)
        console.print(f"alert posted to {hook}")
    raise typer.Exit(report.exit_code)


@audit_app.command("parity")
def parity(
    repo: RepoOpt = Path("."),
    view: ViewsOpt = None,
    sample: Annotated[
        int | None,
        typer.Option(help="Compare this many keys per view, chosen by key hash; default all."),
    ] = None,
    json_path: JsonOpt = None,
    html: HtmlOpt = None,
    webhook: HookOpt = None,
) -> None:
    """Online values vs the offline rule at each view's materialization time, key by key."""
    with _store(repo) as fs:
        report = fs.audit_parity(view or None, sample=sample)
    _finish(report, json_path, html, webhook)


@audit_app.command("replay")
def replay(
    repo: RepoOpt = Path("."),
    view: ViewsOpt = None,
    min_match_rate: Annotated[
        float, typer.Option(help="Alert when a feature matches less often than this.")
    ] = 0.99,
    json_path: JsonOpt = None,
    html: HtmlOpt = None,
    webhook: HookOpt = None,
) -> None:
    """Recompute every logged served vector offline at its read time and compare values."""
    with _store(repo) as fs:
        report = fs.audit_replay(views=view or None, min_match_rate=min_match_rate)
    _finish(report, json_path, html, webhook)


@audit_app.command("drift")
def drift(
    baseline: Annotated[
        Path, typer.Option(help="Baseline Parquet file, e.g. the model's training frame.")
    ],
    current: Annotated[
        Path | None,
        typer.Option(help="Current Parquet file; default the repo's served-feature log."),
    ] = None,
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", help="Audit this column (repeat); default all shared."),
    ] = None,
    repo: RepoOpt = Path("."),
    json_path: JsonOpt = None,
    html: HtmlOpt = None,
    webhook: HookOpt = None,
) -> None:
    """Compare feature distributions of a baseline frame and the served values (or a frame)."""
    with _store(repo) as fs:
        report = fs.audit_drift(baseline, current, features=feature or None)
    _finish(report, json_path, html, webhook)


@audit_app.command("leakage")
def leakage(
    entities: Annotated[Path, typer.Option(help="Parquet file: join keys + event_timestamp.")],
    features: Annotated[
        list[str],
        typer.Option("--features", "-f", help="A feature service, or 'view:feature' (repeat)."),
    ],
    repo: RepoOpt = Path("."),
    json_path: JsonOpt = None,
    html: HtmlOpt = None,
    webhook: HookOpt = None,
) -> None:
    """Count what the leakage guard, watermark and ttl changed against a naive time join."""
    with _store(repo) as fs:
        report = fs.audit_leakage(entities, feature_spec(features))
    _finish(report, json_path, html, webhook)


@audit_app.command("schema")
def schema(
    repo: RepoOpt = Path("."),
    view: ViewsOpt = None,
    sample: Annotated[
        int | None,
        typer.Option(help="Read this many online keys per view, chosen by key hash; default all."),
    ] = None,
    json_path: JsonOpt = None,
    html: HtmlOpt = None,
    webhook: HookOpt = None,
) -> None:
    """Check declared types against source files and online payloads; unseen categories."""
    with _store(repo) as fs:
        report = fs.audit_schema(view or None, sample=sample)
    _finish(report, json_path, html, webhook)
