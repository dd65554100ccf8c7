"""Online store benchmark: the SDK next to raw redis-py doing the same Redis work.

* materialization writes: rows/s of :meth:`OnlineStore.write` (Arrow table in, CAS script per
  row) vs a raw pipeline of HSET + PEXPIREAT of the same, already encoded, payloads;
* reads: p50/p99 latency of :meth:`OnlineStore.read` (validation, keys, decoding, statuses)
  for 1/10/100 entities x 1/5 views vs a raw pipelined HMGET of the same keys and fields;
* Redis memory per entity (``used_memory`` delta for one view).

Targets: writes at least 0.5x raw; read p99 at most 2x raw. Run ``python -m store.bench_online``
(``PARITY_REDIS_URL`` or ``--url`` picks a server; default a temporary embedded one).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from store.config import OnlineConfig
from store.definitions import Entity, FeatureView, Field, ParquetSource
from store.online.embedded import stop_embedded
from store.online.reader import ViewRead, plan_read
from store.online.store import OnlineStore
from store.online.writer import encode_rows

PROJECT = "parity_bench"
FIELDS = [("amount", "float64"), ("count", "int64"), ("category", "string"), ("flag", "bool")]


def _views(n: int) -> list[FeatureView]:
    user = Entity("user", {"user_id": "int64"})
    return [
        FeatureView(
            f"bench_v{k}",
            [user],
            ParquetSource("bench.parquet"),
            [Field(name, dtype) for name, dtype in FIELDS],
            ttl=timedelta(days=30),
        )
        for k in range(n)
    ]


def _table(n: int, now: datetime) -> pa.Table:
    rng = random.Random(7)
    event = [now - timedelta(seconds=rng.randint(1, 86_400)) for _ in range(n)]
    return pa.table(
        {
            "user_id": pa.array(range(n), pa.int64()),
            "amount": pa.array([rng.random() * 100 for _ in range(n)], pa.float64()),
            "count": pa.array([rng.randint(0, 10**6) for _ in range(n)], pa.int64()),
            "category": pa.array([f"cat_{rng.randint(0, 50)}" for _ in range(n)], pa.string()),
            "flag": pa.array([rng.random() < 0.5 for _ in range(n)], pa.bool_()),
            "__event_ts": pa.array(event, pa.timestamp("us", tz="UTC")),
            "__created_ts": pa.array(event, pa.timestamp("us", tz="UTC")),
        }
    )


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 * 1000, p99 * 1000


def _time_pair(
    first: Callable[[], Any], second: Callable[[], Any], iterations: int
) -> tuple[list[float], list[float]]:
    """Time two functions alternately, so load on a shared machine hits both alike."""
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(iterations):
        for fn, out in ((first, samples[0]), (second, samples[1])):
            began = time.perf_counter()
            fn()
            out.append(time.perf_counter() - began)
    return samples


def _raw_write(online: OnlineStore, args: list[tuple[Any, ...]], chunk: int) -> None:
    client = online.client
    for start in range(0, len(args), chunk):
        pipe = client.pipeline(transaction=False)
        for _, _, _, key, version, event, created, expire, *pairs in args[start : start + chunk]:
            mapping = dict(zip(pairs[::2], pairs[1::2], strict=True))
            mapping.update({b"_v": version, b"_e": event, b"_c": created})
            pipe.hset(key, mapping=mapping)
            pipe.pexpireat(key, int(expire))
        pipe.execute()


def bench_writes(
    online: OnlineStore, fv: FeatureView, n: int, now: datetime, rounds: int = 3
) -> dict[str, Any]:
    """Rows/s of the SDK's CAS writes (Arrow table in, encoding included) vs raw HSET +
    PEXPIREAT of the same, already encoded, payloads."""
    table = _table(n, now)
    args = encode_rows(PROJECT, fv, fv.version, table, fv.ttl)
    raw = sdk = memory = 0.0
    for _ in range(rounds):  # alternate, best of each: a loaded machine skews both alike
        online.delete_view(fv)
        began = time.perf_counter()
        _raw_write(online, args, 2000)
        raw = max(raw, n / (time.perf_counter() - began))
        online.delete_view(fv)
        before = int(online.client.info("memory")["used_memory"])
        began = time.perf_counter()
        stats = online.write(fv, fv.version, table)
        sdk = max(sdk, n / (time.perf_counter() - began))
        memory = (int(online.client.info("memory")["used_memory"]) - before) / n
        assert stats.written == n, stats
    return {
        "benchmark": "materialize_write",
        "rows": n,
        "sdk_rows_per_s": round(sdk),
        "raw_rows_per_s": round(raw),
        "ratio": round(sdk / raw, 2),
        "target": "ratio >= 0.5",
        "ok": sdk / raw >= 0.5,
        "memory_bytes_per_entity_view": round(memory),
    }


def bench_reads(
    online: OnlineStore, views: list[FeatureView], n: int, iterations: int, now: datetime
) -> list[dict[str, Any]]:
    """Read latency p50/p99 of the SDK vs a raw pipelined HMGET, per (entities, views)."""
    out = []
    rng = random.Random(11)
    features = [name for name, _ in FIELDS]
    for n_entities in (1, 10, 100):
        for n_views in (1, 5):
            rows = [{"user_id": rng.randrange(n)} for _ in range(n_entities)]
            requests = [ViewRead(fv, fv.version, features) for fv in views[:n_views]]
            commands = plan_read(PROJECT, requests, rows).commands

            def raw(commands: list[tuple[Any, ...]] = commands) -> None:
                pipe = online.client.pipeline(transaction=False)
                for command in commands:
                    pipe.execute_command(*command)
                pipe.execute()

            def sdk(requests: list[ViewRead] = requests, rows: list[Any] = rows) -> None:
                online.read(requests, rows, now)

            _time_pair(raw, sdk, 20)  # warm up
            raw_samples, sdk_samples = _time_pair(raw, sdk, iterations)
            raw_p50, raw_p99 = _percentiles(raw_samples)
            sdk_p50, sdk_p99 = _percentiles(sdk_samples)
            out.append(
                {
                    "benchmark": "online_read",
                    "entities": n_entities,
                    "views": n_views,
                    "sdk_p50_ms": round(sdk_p50, 3),
                    "sdk_p99_ms": round(sdk_p99, 3),
                    "raw_p50_ms": round(raw_p50, 3),
                    "raw_p99_ms": round(raw_p99, 3),
                    "p99_ratio": round(sdk_p99 / raw_p99, 2),
                    "target": "p99_ratio <= 2",
                    "ok": sdk_p99 <= 2 * raw_p99,
                }
            )
    return out


def run(
    redis_url: str | None,
    n_entities: int = 50_000,
    read_iterations: int = 500,
    data_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """Run the online benchmark against ``redis_url`` (None: the embedded server of
    ``data_dir``, or a temporary one); its keys are removed afterwards.

    Returns:
        One dict per measurement (see the module docstring).
    """
    with tempfile.TemporaryDirectory(prefix="parity-bench-") as tmp:
        folder = data_dir or Path(tmp)
        online = OnlineStore(OnlineConfig(url=redis_url), folder, PROJECT)
        views = _views(5)
        now = datetime.now(UTC)
        try:
            results = [bench_writes(online, views[0], n_entities, now)]
            for fv in views[1:]:
                online.write(fv, fv.version, _table(n_entities, now))
            results += bench_reads(online, views, n_entities, read_iterations, now)
        finally:
            for fv in views:
                online.delete_view(fv)
            online.close()
            if redis_url is None and data_dir is None:
                stop_embedded(folder)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=os.environ.get("PARITY_REDIS_URL"))
    parser.add_argument("--entities", type=int, default=50_000)
    parser.add_argument("--iterations", type=int, default=500)
    args = parser.parse_args()
    for row in run(args.url, args.entities, args.iterations):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
