"""Audit benchmarks: a parity audit of 1M entities and a drift audit of 1M rows x 20 features.

The parity case writes a one-view repo with ``entities`` keys under ``data_dir``, materializes
it into Redis (``PARITY_REDIS_URL``, or the repo's embedded server) and times the audit of all
keys and of a 10,000-key sample. The drift case times :func:`store.audit.drift_audit` of two
generated frames (14 float, 3 string and 3 integer features; the current one shifted).
Target: each audit under 30 s.
"""

from __future__ import annotations

import os
import shutil
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from store.audit import drift_audit
from store.feature_store import FeatureStore
from store.online.embedded import stop_embedded

MODULE = textwrap.dedent(
    """
    from store import Entity, FeatureView, Field, ParquetSource

    user = Entity("user", join_keys={"user_id": "int64"})
    bench = FeatureView(
        name="bench",
        entities=[user],
        source=ParquetSource("data/src", created_timestamp="created"),
        fields=[Field("f_int", "int64"), Field("f_float", "float64"), Field("f_str", "string")],
    )
    """
)


def _source(n: int, now: datetime) -> pa.Table:
    rng = np.random.default_rng(7)
    event = np.datetime64(now.replace(tzinfo=None), "us") - rng.integers(60, 86_400, n).astype(
        "timedelta64[s]"
    )
    return pa.table(
        {
            "user_id": np.arange(n, dtype=np.int64),
            "event_timestamp": pa.array(event, pa.timestamp("us", tz="UTC")),
            "created": pa.array(event + np.timedelta64(5, "s"), pa.timestamp("us", tz="UTC")),
            "f_int": rng.integers(0, 1000, n),
            "f_float": rng.normal(0, 1, n),
            "f_str": pa.array(rng.choice(["a", "b", "c", "d"], n)),
        }
    )


def bench_parity(data_dir: Path, entities: int = 1_000_000) -> list[dict[str, Any]]:
    """Materialize ``entities`` keys and time parity audits of all of them and of a sample."""
    repo = data_dir / "parity_repo"
    shutil.rmtree(repo / "data" / "src", ignore_errors=True)
    (repo / "data" / "src").mkdir(parents=True)
    url = os.environ.get("PARITY_REDIS_URL")
    online = f"online:\n  url: {url}\n" if url else ""
    (repo / "parity.yaml").write_text(f"project: bench_audit\n{online}")
    (repo / "features.py").write_text(MODULE)
    now = datetime.now(UTC)
    pq.write_table(_source(entities, now), repo / "data" / "src" / "part.parquet")
    fs = FeatureStore(repo)
    try:
        fs.apply()
        fs.online.delete_view("bench")
        started = time.perf_counter()
        fs.materialize(now)
        materialize_s = time.perf_counter() - started
        out = []
        for sample in (None, 10_000):
            started = time.perf_counter()
            report = fs.audit_parity(sample=sample)
            out.append(
                {
                    "case": f"parity audit, {'all' if sample is None else sample} keys",
                    "keys": report.summary["keys"],
                    "differences": report.summary["differences"],
                    "seconds": round(time.perf_counter() - started, 2),
                    "materialize_s": round(materialize_s, 2) if sample is None else None,
                }
            )
        fs.online.delete_view("bench")
    finally:
        fs.close()
        if not url:
            stop_embedded(fs.data_dir)
    return out


def _frame(rows: int, shift: float, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i in range(14):
        cols[f"num_{i}"] = rng.normal(shift * (i % 2), 1 + i / 10, rows)
    for i in range(3):
        cols[f"cat_{i}"] = pa.array(rng.choice([f"c{j}" for j in range(10 + i * 20)], rows))
    for i in range(3):
        cols[f"int_{i}"] = rng.integers(0, 5 + i * 50, rows)
    return pa.table(cols)


def bench_drift(rows: int = 1_000_000) -> list[dict[str, Any]]:
    """Time a drift audit of two ``rows`` x 20-feature frames."""
    baseline, current = _frame(rows, 0.0, 1), _frame(rows, 0.3, 2)
    started = time.perf_counter()
    report = drift_audit(baseline, current)
    seconds = time.perf_counter() - started
    return [
        {
            "case": f"drift audit, {rows:,} rows x 20 features",
            "keys": rows,
            "differences": len(report.flagged),
            "seconds": round(seconds, 2),
        }
    ]


def run(
    data_dir: Path, *, entities: int = 1_000_000, rows: int = 1_000_000
) -> list[dict[str, Any]]:
    """Both benchmarks; one result row per timed audit."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    return bench_parity(data_dir, entities) + bench_drift(rows)
