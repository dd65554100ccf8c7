"""Window aggregation benchmark: offline throughput, tile writes, aggregated reads vs plain reads.

* offline: a training frame of ``entity_rows`` rows over ``source_rows`` transactions with six
  aggregations (1h/24h/7d counts, 24h sum, 7d max, 24h distinct merchants), next to the same
  frame with a plain view of the same source (the last row's amount);
* tiles: materialization of the aggregation view (tiles of every user as of the end);
* reads: p50/p99 of ``OnlineStore.read`` for 1/10/100 entities, the aggregation view next to
  the plain view (both materialized from the same source).

Run ``python -m store.bench_aggregate [folder] [--source-rows N] [--entity-rows N]`` (``--help``)
or ``parity bench --part aggregate``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from store.aggregation import Aggregation, AggregationView
from store.config import OfflineConfig, OnlineConfig
from store.definitions import Entity, FeatureView, Field, ParquetSource
from store.materialize import materialize_view
from store.offline.engine import OfflineEngine
from store.offline.retrieval import get_historical_features
from store.online.embedded import stop_embedded
from store.online.reader import ViewRead
from store.online.store import OnlineStore
from store.registry import Definitions, resolve_features

H = timedelta(hours=1)
DAY_US = 86_400 * 1_000_000


def _views() -> tuple[AggregationView, FeatureView]:
    user = Entity("user", {"user_id": "int64"})
    source = ParquetSource("transactions.parquet", created_timestamp="created_timestamp")
    agg = AggregationView(
        name="bench_agg",
        entities=[user],
        source=source,
        aggregations=[
            Aggregation("*", "count", window=H, name="tx_1h"),
            Aggregation("*", "count", window=24 * H, name="tx_24h"),
            Aggregation("*", "count", window=7 * 24 * H, name="tx_7d"),
            Aggregation("amount", "sum", window=24 * H, name="usd_sum_24h"),
            Aggregation("amount", "max", window=7 * 24 * H, name="usd_max_7d"),
            Aggregation("merchant_id", "count_distinct", window=24 * H, name="merchants_24h"),
        ],
    )
    plain = FeatureView(
        "bench_last", [user], source, [Field("amount", "float64")], ttl=timedelta(days=30)
    )
    return agg, plain


def _data(folder: Path, rows: int, users: int, end: datetime, days: int) -> None:
    rng = np.random.default_rng(3)
    end_us = int(end.timestamp() * 1_000_000)
    event = np.sort(rng.integers(end_us - days * DAY_US, end_us, rows))
    lag = rng.integers(1, 120_000_000, rows)  # lands up to 2 minutes later
    late = rng.random(rows) < 0.01
    lag[late] += rng.integers(0, 6 * 3600 * 1_000_000, int(late.sum()))  # 1% up to 6h late
    table = pa.table(
        {
            "user_id": pa.array(rng.integers(0, users, rows), pa.int64()),
            "merchant_id": pa.array(rng.integers(0, 5_000, rows), pa.int64()),
            "amount": pa.array(np.round(rng.lognormal(3.5, 1.1, rows), 2), pa.float64()),
            "event_timestamp": pa.array(event, pa.timestamp("us", tz="UTC")),
            "created_timestamp": pa.array(event + lag, pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, folder / "transactions.parquet")


def _entities(n: int, users: int, end: datetime, days: int) -> pa.Table:
    rng = np.random.default_rng(5)
    end_us = int(end.timestamp() * 1_000_000)
    times = rng.integers(end_us - days * DAY_US, end_us, n)
    return pa.table(
        {
            "user_id": pa.array(rng.integers(0, users, n), pa.int64()),
            "event_timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
        }
    )


def _frame_seconds(engine: OfflineEngine, view: FeatureView, ent: pa.Table) -> float:
    defs = Definitions(views={view.name: view})
    refs = resolve_features(defs, [view.name])
    began = time.perf_counter()
    get_historical_features(engine, defs, refs, ent, leakage_report=False)
    return time.perf_counter() - began


def _read_latency(
    online: OnlineStore, view: FeatureView, users: int, n: int, now: datetime
) -> tuple[float, float]:
    rng = random.Random(n)
    req = [ViewRead(view, view.version, view.feature_names)]
    times = []
    for _ in range(300):
        rows = [{"user_id": rng.randrange(users)} for _ in range(n)]
        began = time.perf_counter()
        online.read(req, rows, now)
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def run(
    data_dir: Path, *, source_rows: int = 1_000_000, entity_rows: int = 1_000_000
) -> list[dict[str, Any]]:
    """Run the benchmark in ``data_dir`` (data, DuckDB spill and an embedded redis-server)."""
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    users, days = max(100, source_rows // 50), 30
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + H
    _data(data_dir, source_rows, users, end, days)
    engine = OfflineEngine(data_dir, data_dir, OfflineConfig(memory_limit="4GB"))
    agg, plain = _views()
    ent = _entities(entity_rows, users, end, days)
    out: list[dict[str, Any]] = []
    for view, what in ((agg, "6 window aggregations"), (plain, "plain view (last row)")):
        secs = _frame_seconds(engine, view, ent)
        out.append(
            {
                "measure": f"training frame: {what}",
                "rows": entity_rows,
                "seconds": round(secs, 2),
                "rows_per_s": round(entity_rows / secs),
            }
        )
    online = OnlineStore(OnlineConfig(), data_dir, "parity_bench_agg")
    try:
        now = datetime.now(UTC)
        for view in (agg, plain):
            res = materialize_view(engine, online, view, view.version, now)
            out.append(
                {
                    "measure": f"materialize {view.name}",
                    "rows": res.written,
                    "seconds": round(res.seconds, 2),
                    "rows_per_s": round(res.written / res.seconds) if res.seconds else None,
                }
            )
        for n in (1, 10, 100):
            for view in (agg, plain):
                p50, p99 = _read_latency(online, view, users, n, now)
                out.append(
                    {
                        "measure": f"read {view.name} x {n} entities",
                        "p50_ms": round(p50, 3),
                        "p99_ms": round(p99, 3),
                    }
                )
    finally:
        online.close()
        stop_embedded(data_dir)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: run the benchmark and print one result per line."""
    parser = argparse.ArgumentParser(
        prog="python -m store.bench_aggregate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("folder", nargs="?", default="bench-data/aggregate", type=Path)
    parser.add_argument("--source-rows", type=int, default=1_000_000, help="transactions")
    parser.add_argument("--entity-rows", type=int, default=1_000_000, help="training rows")
    args = parser.parse_args(argv)
    for row in run(args.folder, source_rows=args.source_rows, entity_rows=args.entity_rows):
        print(row)


if __name__ == "__main__":  # pragma: no cover
    main()
