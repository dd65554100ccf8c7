"""The skew lab: the same model trained four ways, each scored on what serving returned.

1. ``naive``: an event-time as-of join that ignores when rows landed;
2. ``ingestion``: the training request stamped with the labels' load time, not the event time;
3. ``tumbling``: windows from a tumbling batch table for training, sliding ones for serving;
4. ``parity``: Parity's training frame (leakage guard on), served by Parity's online path.

Every way's *offline* score is its model on its own frame of the test requests (what the team
would see in a notebook); its *online* score is the same model on the values Parity's online
path served at each test request's time (:mod:`store.lab.serve`). Parity's audits run on
every way through the public API: leakage (Parity's guard vs a naive join, on the way's
training request), replay (the served log recomputed by the way's training path) and drift
(the way's training frame vs the served values, PSI).
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from store import FeatureStore
from store.lab import model
from store.lab.data import LabData, generate
from store.lab.repos import COLUMNS, FEATURES, WAYS, write_data, write_repo
from store.lab.serve import serve

TITLES = {
    "naive": "1. naive event-time join (ignores landing time)",
    "ingestion": "2. join on ingestion time instead of event time",
    "tumbling": "3. tumbling window in training, sliding in serving",
    "parity": "4. Parity: leakage guard + one window implementation",
}
INPUTS = ["amount", *COLUMNS]
PSI_LIMIT = 0.1


@dataclass
class WayResult:
    """One way's scores and the audits that flag it."""

    way: str
    offline_auc: float
    online_auc: float
    offline_precision: float
    online_precision: float
    gap: model.Gap
    audits: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def flagged_by(self) -> list[str]:
        return [name for name, a in self.audits.items() if a["flagged"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "way": self.way,
            "title": TITLES[self.way],
            "offline_auc": round(self.offline_auc, 4),
            "online_auc": round(self.online_auc, 4),
            "offline_precision": round(self.offline_precision, 4),
            "online_precision": round(self.online_precision, 4),
            "auc_gap": round(self.gap.value, 4),
            "auc_gap_ci95": [round(self.gap.low, 4), round(self.gap.high, 4)],
            "flagged_by": self.flagged_by,
            "audits": self.audits,
        }


@dataclass
class LabResult:
    """Everything the lab measured; renderers in :mod:`store.lab.report` turn it into text."""

    size: int
    seed: int
    rows: dict[str, int]
    ways: list[WayResult]
    materializations: int
    served_mismatches: int
    seconds: float = 0.0

    def way(self, name: str) -> WayResult:
        return next(w for w in self.ways if w.way == name)

    def targets(self) -> dict[str, bool]:
        """The issue's targets, as measured."""
        parity = self.way("parity")
        broken = [w for w in self.ways if w.way != "parity"]
        return {
            "broken_ways_gap_at_least_0.05": all(w.gap.value >= 0.05 for w in broken),
            "parity_gap_within_0.01": abs(parity.gap.value) <= 0.01,
            "parity_online_auc_best": all(parity.online_auc >= w.online_auc for w in broken),
            "broken_ways_flagged": all(w.flagged_by for w in broken),
            "parity_flagged_by_none": not parity.flagged_by,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "seed": self.seed,
            "recall": model.RECALL,
            "psi_limit": PSI_LIMIT,
            "rows": self.rows,
            "materializations": self.materializations,
            "served_vs_parity_frame_mismatches": self.served_mismatches,
            "seconds": round(self.seconds, 1),
            "ways": [w.to_dict() for w in self.ways],
            "targets": self.targets(),
        }


def _requests(data: LabData, days: tuple[int, int], rng: np.random.Generator) -> pa.Table:
    """Every fraud in ``days`` and four times as many legitimate transactions, in time order."""
    labels = data.labels
    micros = pc.cast(labels.column("event_timestamp"), pa.int64()).to_numpy()
    inside = (micros >= data.day_us(days[0])) & (micros < data.day_us(days[1]))
    fraud = labels.column("is_fraud").to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(inside & fraud)
    good = np.flatnonzero(inside & ~fraud)
    pick = rng.choice(good, min(len(good), 4 * len(bad)), replace=False)
    return labels.take(pa.array(np.sort(np.concatenate([bad, pick]))))


def _at_load_time(requests: pa.Table) -> pa.Table:
    """The ingestion-time bug: the request's as-of time is when the label row landed."""
    i = requests.schema.get_field_index("event_timestamp")
    return requests.set_column(i, "event_timestamp", requests.column("loaded_at"))


def _frame(fs: FeatureStore, requests: pa.Table) -> pa.Table:
    entity = requests.select(["transaction_id", "user_id", "amount", "event_timestamp"])
    return fs.get_historical_features(entity, FEATURES).to_arrow()


def run(
    size: int = 3_000,
    *,
    seed: int = 17,
    workdir: Path | None = None,
    redis_url: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> LabResult:
    """Run the lab; see the module docstring.

    Args:
        size: cards in the generated data (transactions scale with it).
        seed: seeds the data, the request sample, the model and the bootstrap.
        workdir: where the data, the four feature repos and the embedded Redis live; default
            a temporary folder, removed afterwards.
        redis_url: a Redis to serve from; default the embedded redis-server of the parity repo.
        progress: called with a line per step.
    """
    say = progress or (lambda _: None)
    began = time.perf_counter()
    own = workdir is None
    root = Path(tempfile.mkdtemp(prefix="parity-lab-")) if workdir is None else workdir
    try:
        return _run(size, seed, root, redis_url, say, began)
    finally:
        if own:
            _stop_redis(root / "parity", redis_url)
            shutil.rmtree(root, ignore_errors=True)


def _stop_redis(repo: Path, redis_url: str | None) -> None:
    """Stop the embedded redis-server the parity repo started (with ``parity redis stop``)."""
    if redis_url is not None or not (repo / "state").exists():
        return
    import subprocess
    import sys

    cmd = [sys.executable, "-c", "from store.cli import main; main()", "redis", "stop"]
    subprocess.run([*cmd, "--repo", str(repo)], capture_output=True, check=False)


def _run(
    size: int,
    seed: int,
    root: Path,
    redis_url: str | None,
    say: Callable[[str], None],
    began: float,
) -> LabResult:
    data = generate(size, seed=seed)
    paths = write_data(data, root / "data")
    run_id = secrets.token_hex(4)
    stores = {w: FeatureStore(write_repo(w, root / w, paths, redis_url, run_id)) for w in WAYS}
    for fs in stores.values():
        fs.apply()
    rng = np.random.default_rng(seed)
    train, test = _requests(data, data.train_days, rng), _requests(data, data.test_days, rng)
    say(
        f"data: {data.transactions.num_rows:,} transactions, {data.disputes.num_rows:,} "
        f"disputes; {train.num_rows:,} training and {test.num_rows:,} test requests"
    )

    sources = {
        "user_disputes": data.disputes,
        "user_recent": data.transactions,
        "user_activity": data.transactions,
    }
    served = serve(stores["parity"], test, FEATURES, sources)
    say(f"served {test.num_rows:,} requests ({served.materializations} materializations)")
    online = test.select(["amount"])
    for name in COLUMNS:
        online = online.append_column(name, served.values.column(name))

    requests = {w: (train, test) for w in WAYS}
    requests["ingestion"] = (_at_load_time(train), _at_load_time(test))
    y_train = train.column("is_fraud").to_numpy(zero_copy_only=False).astype(int)
    y_test = test.column("is_fraud").to_numpy(zero_copy_only=False).astype(int)
    ways = []
    mismatches = 0
    for way in WAYS:
        fs = stores["parity"] if way == "ingestion" else stores[way]
        train_frame, test_frame = _frame(fs, requests[way][0]), _frame(fs, requests[way][1])
        fitted = model.fit(model.matrix(train_frame, INPUTS), y_train, seed)
        off = model.predict(fitted, model.matrix(test_frame, INPUTS))
        on = model.predict(fitted, model.matrix(online, INPUTS))
        result = WayResult(
            way,
            model.auc(y_test, off),
            model.auc(y_test, on),
            model.precision_at_recall(y_test, off),
            model.precision_at_recall(y_test, on),
            model.bootstrap_gap(y_test, off, on, seed=seed),
        )
        result.audits = _audits(fs, stores["parity"], requests[way][0], train_frame, served)
        if way == "parity":
            mismatches = _mismatches(test_frame, served.values)
        ways.append(result)
        say(
            f"{way}: offline AUC {result.offline_auc:.3f}, online {result.online_auc:.3f}; "
            f"flagged by {', '.join(result.flagged_by) or 'no audit'}"
        )
    rows = {
        "train": train.num_rows,
        "train_fraud": int(y_train.sum()),
        "test": test.num_rows,
        "test_fraud": int(y_test.sum()),
    }
    lab = LabResult(size, seed, rows, ways, served.materializations, mismatches)
    lab.seconds = time.perf_counter() - began
    return lab


def _mismatches(frame: pa.Table, served: pa.Table) -> int:
    """Test requests whose served vector differs from Parity's training frame at that time."""
    a = frame.select(COLUMNS).to_pylist()
    b = served.select(COLUMNS).to_pylist()
    return sum(x != y for x, y in zip(a, b, strict=True))


def _audits(
    fs: FeatureStore, parity: FeatureStore, request: pa.Table, frame: pa.Table, served: Any
) -> dict[str, dict[str, Any]]:
    """Parity's leakage, replay and drift audits on one way, each with whether it flags the way
    and why."""
    return {
        "leakage": _leakage(parity, request, frame),
        "replay": _replay(fs, served.log),
        "drift": _drift(fs, frame, served.values),
    }


def _leakage(parity: FeatureStore, request: pa.Table, frame: pa.Table) -> dict[str, Any]:
    """The leakage audit of the way's training request, run with the sources' true landing
    times. It names rows where a naive join takes a value that had not landed; it flags the
    way when the way's frame holds those naive values (Parity's frame holds the guarded ones:
    there the audit's count is what the guard kept out)."""
    entity = request.select(["user_id", "event_timestamp"])
    report = parity.audit_leakage(entity, FEATURES)
    index = {
        (u, t): i
        for i, (u, t) in enumerate(
            zip(
                frame.column("user_id").to_pylist(),
                frame.column("event_timestamp").to_pylist(),
                strict=True,
            )
        )
    }
    took_naive = 0
    for ex in report.examples:
        i = index.get((ex.get("user_id"), ex.get("t")))
        naive, guarded = ex.get("naive"), ex.get("guarded")
        if i is None or not isinstance(naive, dict) or naive == guarded:
            continue
        mine = {f: frame.column(f)[i].as_py() for f in naive}
        took_naive += mine == naive
    counts = {view: dict(c) for view, c in report.counts.items() if c}
    cause = "; ".join(
        f"{view}: " + ", ".join(f"{n:,} by {why}" for why, n in c.items())
        for view, c in counts.items()
    )
    flagged = took_naive > 0
    return {
        "status": report.status,
        "flagged": flagged,
        "cause": (
            f"the frame holds values a naive join takes before they landed ({cause})"
            if flagged
            else f"frame holds the guarded values ({cause or 'nothing to guard'})"
        ),
        "examples_checked": len(report.examples),
        "examples_with_naive_value": took_naive,
    }


def _replay(fs: FeatureStore, log: pa.Table) -> dict[str, Any]:
    """The served log recomputed by the way's training path at each read time."""
    report = fs.audit_replay(log)
    flagged = report.status != "ok"
    causes = {view: {why: n for why, n in c.items() if n} for view, c in report.counts.items()}
    cause = "; ".join(
        f"{view}: " + ", ".join(f"{n:,} {why}" for why, n in c.items())
        for view, c in causes.items()
        if c
    )
    return {
        "status": report.status,
        "flagged": flagged,
        "cause": cause or "every served value matches the training path",
        "headline": report.summary.get("headline", ""),
    }


def _drift(fs: FeatureStore, frame: pa.Table, served: pa.Table) -> dict[str, Any]:
    """The way's training frame (baseline) against the values served (current): PSI."""
    report = fs.audit_drift(frame.select(COLUMNS), served.select(COLUMNS), features=COLUMNS)
    psi = {}
    for row in report.to_dict()["rows"]:
        value = row.get("psi")
        if value is not None:
            psi[row["feature"]] = round(float(value), 4)
    over = {f: p for f, p in psi.items() if p > PSI_LIMIT}
    return {
        "status": report.status,
        "flagged": bool(over),
        "cause": (
            ", ".join(f"{f} PSI {p:.2f}" for f, p in over.items())
            if over
            else f"every PSI ≤ {PSI_LIMIT}"
        ),
        "psi": psi,
    }
