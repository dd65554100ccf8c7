"""The report every audit returns: one model, rendered as JSON, HTML and a rich table.

An :class:`AuditReport` holds a headline ``status`` (``ok`` < ``warn`` < ``alert``), a
``summary`` of headline figures, ``rows`` (one per feature or per view: a
:class:`FeatureResult` for distribution audits, a plain dict for the others), ``examples``
(offending rows, shown as a table), ``counts`` (``group -> class -> n``, drawn as bars: e.g.
parity differences per view by class, or values changed by the leakage guard per view) and
the ``params`` it ran with. ``exit_code`` is 0 for ok/warn and 1 for alert.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import orjson

if TYPE_CHECKING:
    from rich.table import Table

Status = Literal["ok", "warn", "alert"]
SEVERITY: dict[str, int] = {"ok": 0, "warn": 1, "alert": 2}


def worst(statuses: list[Status] | tuple[Status, ...]) -> Status:
    """The most severe of ``statuses`` (``ok`` when empty)."""
    return max(statuses, key=SEVERITY.__getitem__, default="ok")


@dataclass
class Histogram:
    """Baseline and current counts over the same bins (frozen from the baseline).

    Attributes:
        labels: one label per bin (a value range, or a category).
        baseline: baseline count per bin.
        current: current count per bin.
    """

    labels: list[str]
    baseline: list[int]
    current: list[int]


@dataclass
class FeatureResult:
    """The drift of one feature between baseline and current.

    Metrics that do not apply to the feature's kind are ``None``. ``flags`` maps a metric name
    (``psi``, ``ks``, ``js``, ``chi2``, ``unseen_rate``, ``null_rate``) to the status it
    raised; ``reasons`` says why in words; ``notes`` carries caveats such as a low sample;
    ``unseen_top`` lists the most frequent categories the baseline never had, with counts.
    """

    feature: str
    kind: Literal["numeric", "categorical", "skipped"]
    status: Status
    n_baseline: int
    n_current: int
    null_rate_baseline: float
    null_rate_current: float
    psi: float | None = None
    ks: float | None = None
    ks_pvalue: float | None = None
    js: float | None = None
    kl: float | None = None
    chi2: float | None = None
    chi2_pvalue: float | None = None
    unseen_rate: float | None = None
    flags: dict[str, Status] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unseen_top: dict[str, int] = field(default_factory=dict)
    histogram: Histogram | None = None

    @property
    def null_rate_change(self) -> float:
        """``null_rate_current - null_rate_baseline``."""
        return self.null_rate_current - self.null_rate_baseline

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the inverse of :meth:`from_dict`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureResult:
        """Rebuild a result from :meth:`to_dict` output."""
        data = dict(data)
        hist = data.pop("histogram", None)
        return cls(**data, histogram=Histogram(**hist) if hist else None)


Row = FeatureResult | dict[str, Any]


@dataclass
class AuditReport:
    """The outcome of an audit; see the module docstring for the fields."""

    kind: str
    status: Status
    summary: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when within thresholds (ok or warn), 1 on alert: for CI and cron."""
        return 1 if self.status == "alert" else 0

    def sorted_rows(self) -> list[Row]:
        """Rows worst-first (by status, then by PSI or ``count`` when present)."""
        return sorted(self.rows, key=_row_rank)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reverses it."""
        return {
            "kind": self.kind,
            "status": self.status,
            "exit_code": self.exit_code,
            "created_at": self.created_at.isoformat(),
            "summary": self.summary,
            "rows": [r.to_dict() if isinstance(r, FeatureResult) else r for r in self.rows],
            "examples": self.examples,
            "counts": self.counts,
            "params": self.params,
        }

    def to_json(self) -> str:
        """The report as indented JSON (NaN and infinities become ``null``)."""
        opts = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        return orjson.dumps(self.to_dict(), option=opts, default=str).decode()

    def write_json(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` and return it."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.to_json() + "\n", encoding="utf-8")
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditReport:
        """Rebuild a report (a :class:`DriftReport` for ``kind == "drift"``) from a dict."""
        feature_rows = data["kind"] == "drift"
        rows: list[Row] = [
            FeatureResult.from_dict(r) if feature_rows else dict(r) for r in data.get("rows", [])
        ]
        target = DriftReport if feature_rows else AuditReport
        return target(
            kind=data["kind"],
            status=cast(Status, data["status"]),
            summary=dict(data.get("summary", {})),
            rows=rows,
            examples=list(data.get("examples", [])),
            counts={k: dict(v) for k, v in data.get("counts", {}).items()},
            created_at=datetime.fromisoformat(data["created_at"]),
            params=dict(data.get("params", {})),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> AuditReport:
        """Parse :meth:`to_json` output."""
        return cls.from_dict(orjson.loads(text))

    def write_html(self, path: str | Path) -> Path:
        """Write a self-contained HTML report (inline CSS and SVG, no scripts) to ``path``."""
        from store.audit.html import render_html

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_html(self), encoding="utf-8")
        return out

    def rich_table(self) -> Table:
        """A rich Table summarising the rows, worst first, for the CLI."""
        from store.audit.console import rich_table

        return rich_table(self)


@dataclass
class DriftReport(AuditReport):
    """An :class:`AuditReport` of kind ``drift`` whose rows are :class:`FeatureResult`."""

    @property
    def features(self) -> list[FeatureResult]:
        """The per-feature results, in input order."""
        return [r for r in self.rows if isinstance(r, FeatureResult)]

    def feature(self, name: str) -> FeatureResult:
        """The result for feature ``name``; KeyError naming the known features if absent."""
        for result in self.features:
            if result.feature == name:
                return result
        known = ", ".join(r.feature for r in self.features)
        raise KeyError(f"no drift result for feature {name!r}; the report has: {known}")

    @property
    def flagged(self) -> list[str]:
        """Names of the features with status warn or alert, worst first."""
        return [
            r.feature
            for r in self.sorted_rows()
            if isinstance(r, FeatureResult) and r.status != "ok"
        ]


def _row_rank(row: Row) -> tuple[int, float]:
    if isinstance(row, FeatureResult):
        return -SEVERITY[row.status], -(row.psi or 0.0)
    status = str(row.get("status", "ok"))
    count = row.get("count", 0)
    return -SEVERITY.get(status, 0), -float(count) if isinstance(count, int | float) else 0.0
