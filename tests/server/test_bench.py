"""The server benchmark keeps working: a tiny run against a real repo and real Redis."""

from __future__ import annotations

from pathlib import Path

from store.bench_server import prepare_repo, run, table


def test_tiny_benchmark_run(tmp_path: Path, redis_url: str) -> None:
    repo = prepare_repo(tmp_path / "repo", redis_url, users=300)
    rows = run(repo, concurrencies=(2,), entities=(1, 10), seconds=0.3)
    assert [(r["server"], r["entities"]) for r in rows] == [
        ("parity", 1),
        ("minimal", 1),
        ("parity", 10),
        ("minimal", 10),
    ]
    assert all(r["errors"] == 0 and r["requests"] > 0 for r in rows)
    assert "cpu vs min" in table(rows)
    assert all(r["server_cpu_ms"] > 0 for r in rows)
