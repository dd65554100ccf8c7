"""The online benchmark runs end to end (tiny sizes) and leaves no keys behind."""

from __future__ import annotations

import redis

from store.bench_online import run


def test_bench_runs_and_cleans_up(redis_url: str, redis_client: redis.Redis) -> None:
    results = run(redis_url, n_entities=300, read_iterations=5)
    writes = [r for r in results if r["benchmark"] == "materialize_write"]
    reads = [r for r in results if r["benchmark"] == "online_read"]
    assert len(writes) == 1 and writes[0]["sdk_rows_per_s"] > 0
    assert {(r["entities"], r["views"]) for r in reads} == {
        (e, v) for e in (1, 10, 100) for v in (1, 5)
    }
    assert redis_client.keys("p:{parity_bench|*") == []
