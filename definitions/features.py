"""Example feature repo: card-payment fraud.

Three views over the sample data that `parity quickstart` writes into ``data/``:

* ``user_txn_stats``: hourly activity per user. Rows land minutes after the hour; some land
  a day or more late and some are corrected later. ``allowed_lateness`` drops what the
  streaming path would have dropped; ``availability_delay`` models the loader's lag.
* ``user_profile``: daily profile snapshots, landing hours after midnight.
* ``merchant_risk``: daily merchant risk figures.
* ``user_txn_agg``: real-time window aggregations of the raw transactions (1h/24h/7d counts,
  24h amount sum and mean, 7d max, distinct merchants), equal online and offline.
* ``txn_ratio``: on-demand: the request's amount over the user's 24h mean amount.
"""

from datetime import timedelta

import pandas as pd

from store import (
    Aggregation,
    AggregationView,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    OnDemandFeatureView,
    ParquetSource,
)

H = timedelta(hours=1)

user = Entity("user", join_keys={"user_id": "int64"}, description="A card holder")
merchant = Entity("merchant", join_keys={"merchant_id": "int64"}, description="A card acceptor")

user_txn_stats = FeatureView(
    name="user_txn_stats",
    entities=[user],
    source=ParquetSource(
        "data/user_txn_stats",
        event_timestamp="event_timestamp",
        created_timestamp="created_timestamp",
    ),
    fields=[
        Field("txn_count_1h", "int64", description="Card transactions in the hour"),
        Field("amount_usd_1h", "float64", description="Their total amount in USD"),
        Field(
            "avg_amount_usd_1h",
            "float64",
            expr="amount_usd_1h / nullif(txn_count_1h, 0)",
            description="Mean transaction amount in the hour",
        ),
    ],
    ttl=timedelta(days=2),
    allowed_lateness=timedelta(days=1),
    availability_delay=timedelta(minutes=5),
    owner="risk-ml@example.com",
)

user_profile = FeatureView(
    name="user_profile",
    entities=[user],
    source=ParquetSource("data/user_profile.parquet", created_timestamp="created_timestamp"),
    fields=[
        Field("country", "string"),
        Field("account_age_days", "int64"),
        Field("credit_limit", "float64"),
        Field("is_verified", "bool"),
    ],
    ttl=timedelta(days=45),
    owner="identity@example.com",
)

merchant_risk = FeatureView(
    name="merchant_risk",
    entities=[merchant],
    source=ParquetSource("data/merchant_risk.parquet", created_timestamp="created_timestamp"),
    fields=[
        Field("category", "string"),
        Field("chargeback_rate", "float64"),
        Field("volume_30d", "int64"),
        Field("is_high_risk", "bool", expr="chargeback_rate > 0.02"),
    ],
    ttl=timedelta(days=7),
    owner="risk-ml@example.com",
)

user_txn_agg = AggregationView(
    name="user_txn_agg",
    entities=[user],
    source=ParquetSource("data/transactions.parquet", created_timestamp="created_timestamp"),
    aggregations=[
        Aggregation("*", "count", window=H, name="tx_1h"),
        Aggregation("*", "count", window=24 * H, name="tx_24h"),
        Aggregation("*", "count", window=7 * 24 * H, name="tx_7d"),
        Aggregation("amount * fx_rate", "sum", window=24 * H, name="usd_sum_24h"),
        Aggregation("amount * fx_rate", "mean", window=24 * H, name="usd_mean_24h"),
        Aggregation("amount * fx_rate", "max", window=7 * 24 * H, name="usd_max_7d"),
        Aggregation("merchant_id", "count_distinct", window=24 * H, name="merchants_24h"),
    ],
    hop=H,
    allowed_lateness=timedelta(hours=1),
    owner="risk-ml@example.com",
)


def amount_ratio(df: pd.DataFrame) -> pd.DataFrame:
    """The transaction's amount (request data) over the user's mean amount in the last 24h."""
    return pd.DataFrame({"amount_vs_24h_mean": df["amount"] / df["usd_mean_24h"]})


txn_ratio = OnDemandFeatureView(
    name="txn_ratio",
    sources=["user_txn_agg:usd_mean_24h"],
    request_fields=[Field("amount", "float64")],
    fields=[Field("amount_vs_24h_mean", "float64")],
    udf=amount_ratio,
)

fraud_v1 = FeatureService(
    "fraud_v1",
    features=[
        "user_txn_stats:txn_count_1h",
        "user_txn_stats:amount_usd_1h",
        "user_profile",
        "merchant_risk:chargeback_rate",
        "merchant_risk:category",
    ],
    description="Features of the v1 fraud model",
)

fraud_v2 = FeatureService(
    "fraud_v2",
    features=[*fraud_v1.features, "user_txn_agg", "txn_ratio"],
    description="fraud_v1 plus real-time window aggregations and the amount ratio",
)
