"""A small feature repo with recent data, for facade-level audit tests on real Redis."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from store import FeatureStore

from ..facade_helpers import store_for

USERS = 40
MODULE = textwrap.dedent(
    """
    from datetime import timedelta
    from store import Entity, FeatureView, Field, ParquetSource

    user = Entity("user", join_keys={"user_id": "int64"})
    stats = FeatureView(
        name="stats",
        entities=[user],
        source=ParquetSource("data/src", created_timestamp="created"),
        fields=[
            Field("amount", "float64", drift={"psi_alert": 0.5}),
            Field("n", "int64"),
            Field("tier", "string"),
        ],
        ttl=timedelta(days=30),
        allowed_lateness=timedelta(hours=1),
    )
    """
)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def write_rows(root: Path, name: str, rows: list[dict[str, object]]) -> None:
    """Write ``rows`` (user_id, event_timestamp, created, amount, n, tier) as one Parquet file."""
    schema = pa.schema(
        [
            ("user_id", pa.int64()),
            ("event_timestamp", pa.timestamp("us", tz="UTC")),
            ("created", pa.timestamp("us", tz="UTC")),
            ("amount", pa.float64()),
            ("n", pa.int64()),
            ("tier", pa.string()),
        ]
    )
    folder = root / "data" / "src"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / f"{name}.parquet")


def base_rows(t0: datetime) -> list[dict[str, object]]:
    """Two rows per user, an hour apart, both landed a minute after their event."""
    rows: list[dict[str, object]] = []
    for u in range(1, USERS + 1):
        for h in (2, 1):
            event = t0 - timedelta(hours=h)
            rows.append(
                {
                    "user_id": u,
                    "event_timestamp": event,
                    "created": event + timedelta(minutes=1),
                    "amount": u * 1.5 + h,
                    "n": u * 10 + h,
                    "tier": "gold" if u % 2 else "silver",
                }
            )
    return rows


def make_store(
    root: Path, redis_url: str, project: str, *, cluster: bool = False
) -> tuple[FeatureStore, datetime]:
    """The repo applied and materialized at ``t0`` (now)."""
    t0 = now()
    write_rows(root, "base", base_rows(t0))
    fs = store_for(root, MODULE, redis_url, project=project)
    if cluster:
        yaml = (root / "parity.yaml").read_text()
        (root / "parity.yaml").write_text(yaml + "  cluster: true\n")
        fs = FeatureStore(root)
    fs.apply()
    fs.materialize(t0)
    return fs, t0
