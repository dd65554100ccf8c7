"""The Feast feature repo both sides share in the compatibility suite, and its Parity twin.

``FEAST_DEFINITIONS`` is a Feast repo (two entities, int and string keys; three views, one fed
by a push source; a feature service). ``PARITY_DEFINITIONS`` is what ``parity import-feast``
writes for it, kept here by hand so the wire tests do not depend on the importer (the importer
tests compare the two).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

NOW = datetime.now(UTC).replace(microsecond=0)
FRESH = NOW - timedelta(hours=1)
TS = pa.timestamp("us", tz="UTC")

FEAST_DEFINITIONS = """
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, ValueType
from feast.types import Float64, Int64, String

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)

driver_source = FileSource(
    name="driver_source",
    path="data/driver_stats.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)
customer_source = FileSource(
    name="customer_source",
    path="data/customer.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)
driver_stats_push = PushSource(name="driver_stats_push", batch_source=driver_source)

driver_hourly_stats = FeatureView(
    name="driver_hourly_stats",
    entities=[driver],
    ttl=timedelta(days=1),
    schema=[
        Field(name="conv_rate", dtype=Float64),
        Field(name="acc_rate", dtype=Float64),
        Field(name="avg_daily_trips", dtype=Int64),
    ],
    source=driver_source,
)
driver_hourly_stats_fresh = FeatureView(
    name="driver_hourly_stats_fresh",
    entities=[driver],
    ttl=timedelta(days=1),
    schema=[
        Field(name="conv_rate", dtype=Float64),
        Field(name="acc_rate", dtype=Float64),
        Field(name="avg_daily_trips", dtype=Int64),
    ],
    source=driver_stats_push,
)
customer_profile = FeatureView(
    name="customer_profile",
    entities=[customer],
    ttl=timedelta(days=7),
    schema=[Field(name="segment", dtype=String), Field(name="lifetime_value", dtype=Float64)],
    source=customer_source,
)
driver_activity = FeatureService(
    name="driver_activity",
    features=[driver_hourly_stats[["conv_rate"]], customer_profile],
)
"""

PARITY_DEFINITIONS = """
from datetime import timedelta

from store import Entity, FeatureService, FeatureView, Field, ParquetSource, PushSource

driver = Entity("driver", join_keys={"driver_id": "int64"})
customer = Entity("customer", join_keys={"customer_id": "string"})
driver_source = ParquetSource("data/driver_stats.parquet", created_timestamp="created")
driver_fields = [
    Field("conv_rate", "float64"),
    Field("acc_rate", "float64"),
    Field("avg_daily_trips", "int64"),
]
driver_hourly_stats = FeatureView(
    name="driver_hourly_stats",
    entities=[driver],
    source=driver_source,
    fields=driver_fields,
    ttl=timedelta(days=1),
)
driver_hourly_stats_fresh = FeatureView(
    name="driver_hourly_stats_fresh",
    entities=[driver],
    source=driver_source,
    fields=driver_fields,
    ttl=timedelta(days=1),
)
customer_profile = FeatureView(
    name="customer_profile",
    entities=[customer],
    source=ParquetSource("data/customer.parquet", created_timestamp="created"),
    fields=[Field("segment", "string"), Field("lifetime_value", "float64")],
    ttl=timedelta(days=7),
)
driver_activity = FeatureService(
    "driver_activity", features=["driver_hourly_stats:conv_rate", "customer_profile"]
)
driver_stats_push = PushSource("driver_stats_push", views=[driver_hourly_stats_fresh])
"""


def write_data(repo: Path) -> None:
    """The two sources, under ``repo/data``."""
    data = repo / "data"
    data.mkdir(parents=True, exist_ok=True)
    drivers = pa.table(
        {
            "driver_id": pa.array([1001, 1002, 1003], pa.int64()),
            "event_timestamp": pa.array([FRESH] * 3, TS),
            "created": pa.array([FRESH + timedelta(minutes=1)] * 3, TS),
            "conv_rate": pa.array([0.5, 0.25, 0.125], pa.float64()),
            "acc_rate": pa.array([0.9, 0.8, 0.7], pa.float64()),
            "avg_daily_trips": pa.array([10, 20, 30], pa.int64()),
        }
    )
    pq.write_table(drivers, data / "driver_stats.parquet")
    customers = pa.table(
        {
            "customer_id": pa.array(["c1", "c2"], pa.string()),
            "event_timestamp": pa.array([FRESH] * 2, TS),
            "created": pa.array([FRESH + timedelta(minutes=1)] * 2, TS),
            "segment": pa.array(["gold", "silver"], pa.string()),
            "lifetime_value": pa.array([1250.5, 80.0], pa.float64()),
        }
    )
    pq.write_table(customers, data / "customer.parquet")


def feast_repo(root: Path, server_url: str, project: str = "compat") -> Path:
    """A Feast repo whose online store is the Parity server at ``server_url``."""
    root.mkdir(parents=True, exist_ok=True)
    config = {
        "project": project,
        "registry": "data/registry.db",
        "provider": "local",
        "online_store": {"type": "remote", "path": server_url},
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
        "auth": {"type": "no_auth"},
    }
    (root / "feature_store.yaml").write_text(yaml.safe_dump(config))
    (root / "features.py").write_text(FEAST_DEFINITIONS)
    write_data(root)
    return root


def parity_repo(root: Path, redis_url: str, project: str) -> Path:
    """The Parity twin of :func:`feast_repo` on ``redis_url``."""
    root.mkdir(parents=True, exist_ok=True)
    config = {"project": project, "data_dir": "state", "online": {"url": redis_url}}
    (root / "parity.yaml").write_text(yaml.safe_dump(config))
    (root / "features.py").write_text(PARITY_DEFINITIONS)
    write_data(root)
    return root
