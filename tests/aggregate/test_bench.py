"""A tiny run of the aggregation benchmark keeps it from rotting."""

from __future__ import annotations

from pathlib import Path

from store.bench_aggregate import run


def test_tiny_benchmark_runs(tmp_path: Path) -> None:
    rows = run(tmp_path / "agg", source_rows=3000, entity_rows=2000)
    measures = [r["measure"] for r in rows]
    assert "training frame: 6 window aggregations" in measures
    assert "read bench_agg x 100 entities" in measures
    assert all(r.get("p99_ms", 1) > 0 for r in rows)
