"""Aggregation views: validation names the view, the aggregation and the fix; versioning."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from store import Aggregation, AggregationView, DefinitionError, Entity, Field, ParquetSource

from ..offline.conftest import T0, make_repo

H = timedelta(hours=1)
USER = Entity("user", join_keys={"user_id": "int64"})
SRC = ParquetSource("data/t.parquet", created_timestamp="created")


def view(**kw: object) -> AggregationView:
    args: dict[str, object] = {
        "name": "txn",
        "entities": [USER],
        "source": SRC,
        "aggregations": [Aggregation("amount", "sum", window=24 * H)],
    }
    args.update(kw)
    return AggregationView(**args)  # type: ignore[arg-type]


def test_default_names_and_types() -> None:
    v = view(
        aggregations=[
            Aggregation("amount", "sum", window=24 * H),
            Aggregation("*", "count", window=H),
            Aggregation("merchant", "count_distinct", window=7 * 24 * H),
            Aggregation("amount * 2", "max", window=H, name="double_max", dtype="int64"),
        ]
    )
    assert v.feature_names == [
        "amount_sum_24h",
        "rows_count_1h",
        "merchant_count_distinct_7d",
        "double_max",
    ]
    assert [str(f.type) for f in v.fields] == ["float64", "int64", "int64", "int64"]
    assert v.hops == {
        "amount_sum_24h": 24,
        "rows_count_1h": 1,
        "merchant_count_distinct_7d": 168,
        "double_max": 1,
    }


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Aggregation("amount", "avg", window=H), "unknown function 'avg'; use one of"),
        (lambda: Aggregation("amount", "sum", window=timedelta(0)), "window must be a positive"),
        (lambda: Aggregation("*", "sum", window=H), "column '*' only works with count"),
        (lambda: Aggregation("a + b", "sum", window=H), "give it a name="),
        (lambda: Aggregation("a", "count", window=H, dtype="float64"), "remove dtype="),
        (lambda: Aggregation("a", "sum", window=H, dtype="string"), "sum cannot produce string"),
        (lambda: Aggregation("", "sum", window=H), "column must be"),
        (
            lambda: view(aggregations=[Aggregation("a", "sum", window=90 * timedelta(minutes=1))]),
            "aggregation 'a_sum_90m' window 1:30:00 is not a multiple of the hop",
        ),
        (lambda: view(aggregations=[]), "aggregations must be a non-empty list"),
        (lambda: view(ttl=H), "ttl does not apply"),
        (lambda: view(hop=timedelta(0)), "hop must be a positive"),
        (lambda: view(fields=[Field("x", "int64")]), "remove fields="),
        (
            lambda: view(aggregations=[Aggregation("a", "sum", window=H, name="user_id")]),
            "clash with join keys",
        ),
        (lambda: view(aggregations=[Aggregation("a", "sum", window=H)] * 2), "defined twice"),
    ],
)
def test_bad_definitions(make: object, message: str) -> None:
    with pytest.raises(DefinitionError, match=None) as info:
        make()  # type: ignore[operator]
    assert message in str(info.value)


def test_version_covers_everything_that_changes_a_value() -> None:
    base = view()
    agg = base.aggregations[0]
    changed = [
        view(hop=timedelta(minutes=30)),
        view(allowed_lateness=H),
        view(availability_delay=H),
        view(aggregations=[dataclasses.replace(agg, window=48 * H, name="amount_sum_24h")]),
        view(aggregations=[dataclasses.replace(agg, function="max", name="amount_sum_24h")]),
        view(aggregations=[dataclasses.replace(agg, column="amount * 2", name="amount_sum_24h")]),
        view(aggregations=[dataclasses.replace(agg, dtype="int64")]),
    ]
    versions = {base.version, *(v.version for v in changed)}
    assert len(versions) == len(changed) + 1
    assert view(description="x").version == base.version


def test_bad_column_is_reported_against_the_source(tmp_path: Path) -> None:
    """A column or expression the source cannot evaluate names the view and aggregation."""
    table = pa.table({"user_id": pa.array([1], pa.int64()), "amount": [1.0]})
    table = table.append_column("event_timestamp", pa.array([T0], pa.timestamp("us", tz="UTC")))
    module = """
from datetime import timedelta
from store import Aggregation, AggregationView, Entity, ParquetSource
u = Entity("user", join_keys={"user_id": "int64"})
agg = AggregationView(name="txn", entities=[u], source=ParquetSource("data/t.parquet"),
    aggregations=[Aggregation("amount_usd", "sum", window=timedelta(hours=1))])
"""
    repo = make_repo(tmp_path, module, {"data/t.parquet": table})
    with pytest.raises(DefinitionError) as info:
        repo.engine.check_view(repo.defs.view("txn"))
    text = str(info.value)
    assert "'txn'" in text and "amount_usd_sum_1h" in text and "amount_usd" in text
