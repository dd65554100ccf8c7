"""Drift audit through the facade: thresholds from the definitions, frames and the served log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from store.audit.inputs import definition_thresholds
from store.served_log import ServedLogWriter

from .repo import make_store, now


def _frame(seed: int, shift: float) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "user_id": np.arange(2000),
            "amount": rng.normal(50 + shift, 10, 2000),
            "n": rng.integers(0, 1000, 2000),
            "tier": rng.choice(["gold", "silver"], 2000),
            "label": rng.integers(0, 2, 2000),
        }
    )


def test_drift_audit_finds_the_shifted_feature_only(tmp_path: Path, redis_url: str) -> None:
    fs, _ = make_store(tmp_path, redis_url, "drift")
    thresholds = definition_thresholds(fs.definitions.views.values())
    assert thresholds["amount"].psi_alert == 0.5 and thresholds["stats__amount"].psi_alert == 0.5
    assert "n" not in thresholds

    baseline = tmp_path / "train.parquet"
    pq.write_table(_frame(1, 0.0), baseline)
    clean = fs.audit_drift(baseline, _frame(2, 0.0))
    assert clean.status == "ok" and [r.feature for r in clean.features] == ["amount", "n", "tier"]

    shifted = fs.audit_drift(baseline, _frame(3, 15.0))
    assert shifted.flagged == ["amount"] and shifted.status == "alert"

    # default current: the served log (40 users' served values against the frame)
    writer = ServedLogWriter(fs.data_dir / "served", interval=0.01)
    writer.start()
    rows = [{"user_id": u} for u in range(1, 41)]
    writer.record(fs.get_online_features(["stats"], rows), request_id="r", request_time=now())
    writer.close()
    served = fs.audit_drift(baseline)
    assert {r.feature: r.n_current for r in served.features} == {"amount": 40, "n": 40, "tier": 40}
    fs.close()


def test_a_baseline_feature_serving_stopped_logging_is_a_warning(
    tmp_path: Path, redis_url: str
) -> None:
    # Serving logs amount and n but no longer tier: drift passed without a word about it.
    fs, _ = make_store(tmp_path, redis_url, "driftgone")
    baseline = tmp_path / "train.parquet"
    pq.write_table(_frame(1, 0.0), baseline)
    writer = ServedLogWriter(fs.data_dir / "served", interval=0.01)
    writer.start()
    rows = [{"user_id": u} for u in range(1, 41)]
    served = fs.get_online_features(["stats:amount", "stats:n"], rows)
    writer.record(served, request_id="r", request_time=now())
    writer.close()
    report = fs.audit_drift(baseline)
    assert report.status == "warn", report.summary
    tier = report.feature("tier")
    assert tier.status == "warn" and tier.n_current == 0 and "'tier'" in tier.reasons[0]
    assert report.summary["absent"] == ["tier"]
    assert "no values in the current data (warn): tier" in report.summary["headline"]
    assert [r.feature for r in report.features if "absent" in r.flags] == ["tier"]
    fs.close()
