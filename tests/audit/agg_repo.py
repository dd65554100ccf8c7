"""A small repo with an aggregation view and two on-demand views, recent data, on real Redis."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime
from pathlib import Path

import redis

from store import FeatureStore

from ..facade_helpers import store_for
from .repo import base_rows, now, write_rows

MODULE = textwrap.dedent(
    """
    from datetime import timedelta

    import pandas as pd

    from store import Aggregation, AggregationView, Entity, Field, OnDemandFeatureView
    from store import ParquetSource

    H = timedelta(hours=1)
    user = Entity("user", join_keys={"user_id": "int64"})
    agg = AggregationView(
        name="agg",
        entities=[user],
        source=ParquetSource("data/src", created_timestamp="created"),
        aggregations=[
            Aggregation("*", "count", window=2 * H, name="n_2h"),
            Aggregation("amount", "sum", window=2 * H, name="amount_2h"),
            Aggregation("amount", "max", window=4 * H, name="amount_max_4h"),
            Aggregation("tier", "last", window=4 * H, name="tier_last", dtype="string"),
        ],
        hop=H,
        allowed_lateness=timedelta(hours=1),
    )


    def twice(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"n_twice": TWICE})


    def share(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"share": df["x"] / df["amount_2h"]})


    doubled = OnDemandFeatureView(
        name="doubled",
        sources=["agg:n_2h"],
        fields=[Field("n_twice", "int64")],
        udf=twice,
    )
    ratio = OnDemandFeatureView(
        name="ratio",
        sources=["agg:amount_2h"],
        request_fields=[Field("x", "float64")],
        fields=[Field("share", "float64")],
        udf=share,
    )
    """
)
GOOD = 'df["n_2h"] * 2'
#: returns text for an int64 feature: the schema audit must catch it
BAD = '(df["n_2h"] * 2).astype(str)'


def make_agg_store(
    root: Path, redis_url: str, project: str, *, udf: str = GOOD, materialize: bool = True
) -> tuple[FeatureStore, datetime]:
    """The repo applied (and materialized at ``t0``, now): two rows per user, 1 and 2 h old."""
    t0 = now()
    write_rows(root, "base", base_rows(t0))
    fs = store_for(root, MODULE.replace("TWICE", udf), redis_url, project=project)
    fs.apply()
    if materialize:
        fs.materialize(t0)
    return fs, t0


def tile_key(project: str, user: int) -> str:
    return f"p:{{{project}|{user}}}:agg"


def edit_tiles(client: redis.Redis, key: str, position: int, change: object) -> None:
    """Apply ``change`` (a value, or a function of the old one) to one state of every tile."""
    for field, blob in client.hgetall(key).items():
        if not field.startswith(b"t"):
            continue
        states = json.loads(blob)
        states[position] = change(states[position]) if callable(change) else change
        client.hset(key, field, json.dumps(states))
