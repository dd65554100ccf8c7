"""The lab's feature repos: one per way of building the training frame, all over the same files.

Each way is what a team would write down as definitions: the same view and feature names (so
the served log and the training frames line up column for column), with the one difference
that makes the way what it is.

* ``parity``: disputes guarded by their landing time; windows (the last hour's and the last
  day's) by Parity's aggregation views
  (one implementation, offline and online). It is also the repo that serves, for every way.
* ``naive``: disputes declared without their landing time, so a plain event-time as-of join
  takes rows that had not landed yet.
* ``ingestion``: Parity's definitions; the bug is in the training request (stamped with the
  labels' load time), not here.
* ``tumbling``: the day's window comes from the batch job's daily table, stamped at each day's
  start, instead of the sliding aggregation that serves.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from store.lab.data import LabData, tumbling_daily

WAYS = ("naive", "ingestion", "tumbling", "parity")
FEATURES = [
    "user_disputes:recent_disputes",
    "user_recent:tx_1h",
    "user_activity:tx_24h",
    "user_activity:usd_24h",
]
COLUMNS = [f.split(":")[1] for f in FEATURES]

_HEAD = '''"""Skew lab, way {way!r}: written by `parity lab skew`."""

from datetime import timedelta

from store import Aggregation, AggregationView, Entity, FeatureView, Field, ParquetSource

user = Entity("user", join_keys={{"user_id": "int64"}}, description="A card")
'''

_DISPUTES = """
user_disputes = FeatureView(
    name="user_disputes",
    entities=[user],
    source=ParquetSource({path!r}{created}),
    fields=[
        Field(
            "recent_disputes",
            "int64",
            expr="least(disputes_7d, 3)",
            description="The card's disputes in the 7 days up to the latest one: 1, 2, 3 (3+)",
        )
    ],
    ttl=timedelta(days=7),
)
"""

_SLIDING = """
user_activity = AggregationView(
    name="user_activity",
    entities=[user],
    source=ParquetSource({path!r}, created_timestamp="created_timestamp"),
    aggregations=[
        Aggregation("*", "count", window=timedelta(hours=24), name="tx_24h"),
        Aggregation("amount", "sum", window=timedelta(hours=24), name="usd_24h"),
    ],
    hop=timedelta(hours=1),
)
"""

_RECENT = """
user_recent = AggregationView(
    name="user_recent",
    entities=[user],
    source=ParquetSource({path!r}, created_timestamp="created_timestamp"),
    aggregations=[Aggregation("*", "count", window=timedelta(hours=1), name="tx_1h")],
    hop=timedelta(minutes=10),
)
"""

_TUMBLING = """
user_activity = FeatureView(
    name="user_activity",
    entities=[user],
    source=ParquetSource({path!r}),
    fields=[Field("tx_24h", "int64"), Field("usd_24h", "float64")],
    ttl=timedelta(days=1),
)
"""


def write_data(data: LabData, folder: Path) -> dict[str, Path]:
    """Write the lab's tables as Parquet into ``folder``; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        "transactions": data.transactions,
        "disputes": data.disputes,
        "activity_daily": tumbling_daily(data.transactions),
    }
    paths = {}
    for name, table in tables.items():
        paths[name] = folder / f"{name}.parquet"
        pq.write_table(table, paths[name])
    return paths


def write_repo(
    way: str, folder: Path, paths: dict[str, Path], redis_url: str | None, run_id: str
) -> Path:
    """Write the feature repo of ``way`` (parity.yaml + features.py) into ``folder``.

    The project name carries ``run_id``: a run starts from an empty online namespace even in
    a shared Redis, where an earlier run's newer values would otherwise win the
    compare-and-set writes of this one.
    """
    folder.mkdir(parents=True, exist_ok=True)
    yaml = f"project: lab_{way}_{run_id}\ndata_dir: state\noffline:\n  memory_limit: 1GB\n"
    if redis_url is not None:
        yaml += f"online:\n  url: {redis_url}\n"
    (folder / "parity.yaml").write_text(yaml)
    guarded = way != "naive"
    created = ', created_timestamp="created_timestamp"' if guarded else ""
    text = _HEAD.format(way=way)
    text += _DISPUTES.format(path=str(paths["disputes"]), created=created)
    text += _RECENT.format(path=str(paths["transactions"]))
    if way == "tumbling":
        text += _TUMBLING.format(path=str(paths["activity_daily"]))
    else:
        text += _SLIDING.format(path=str(paths["transactions"]))
    (folder / "features.py").write_text(text)
    return folder
