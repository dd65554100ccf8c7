"""Feast 0.67's own SDK (remote online store) against ``parity serve``: reads, writes, pushes
and errors, each compared with what our SDK answers for the same request."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from store import FeatureStore
from tests.feast_compat.conftest import Compat
from tests.feast_compat.repos import NOW, TS

pytestmark = pytest.mark.feast

SECOND = timedelta(seconds=1)
DRIVER_FEATURES = [
    "driver_hourly_stats:conv_rate",
    "driver_hourly_stats:acc_rate",
    "driver_hourly_stats:avg_daily_trips",
]


def _ours(store: FeatureStore, features: Any, rows: Any, full: bool = False) -> dict[str, Any]:
    out = store.get_online_features(features, rows, full_feature_names=full).to_dict()
    return {k: ["NaN" if isinstance(x, float) and math.isnan(x) else x for x in v]
            for k, v in out.items()}  # fmt: skip


def _read(compat: Compat, **cmd: Any) -> dict[str, Any]:
    answer = compat.client(op="read", **cmd)
    assert "ok" in answer, answer
    result: dict[str, Any] = answer["ok"]
    return result


def test_a_feature_list_with_int_keys_and_an_unknown_key(compat: Compat) -> None:
    rows = [{"driver_id": 1001}, {"driver_id": 1003}, {"driver_id": 9999}]
    got = _read(compat, features=DRIVER_FEATURES, entity_rows=rows)
    assert got == _ours(compat.store, DRIVER_FEATURES, rows)
    assert got["conv_rate"] == [0.5, 0.125, None]
    assert got["avg_daily_trips"] == [10, 30, None]


def test_a_feature_service_with_string_keys_and_full_names(compat: Compat) -> None:
    rows = [{"driver_id": 1002, "customer_id": "c1"}, {"driver_id": 1001, "customer_id": "zz"}]
    got = _read(compat, service="driver_activity", entity_rows=rows, full_feature_names=True)
    assert got == _ours(compat.store, "driver_activity", rows, full=True)
    assert got["driver_hourly_stats__conv_rate"] == [0.25, 0.5]
    assert got["customer_profile__segment"] == ["gold", None]
    assert got["customer_profile__lifetime_value"] == [1250.5, None]


def test_version_metadata_asked_by_the_client(compat: Compat) -> None:
    rows = [{"driver_id": 1001}]
    got = _read(compat, features=DRIVER_FEATURES, entity_rows=rows, version_metadata=True)
    assert got == _ours(compat.store, DRIVER_FEATURES, rows)


def test_column_shaped_entity_rows(compat: Compat) -> None:
    columns = {"customer_id": ["c2", "c1"]}
    got = _read(compat, features=["customer_profile:segment"], entity_rows=columns)
    assert got == {"customer_id": ["c2", "c1"], "segment": ["silver", "gold"]}
    assert got == _ours(compat.store, ["customer_profile:segment"], columns)


def test_write_to_online_store_then_read_back(compat: Compat) -> None:
    event = NOW - timedelta(minutes=10)
    df = {
        "driver_id": [2001, 2002],
        "event_timestamp": [event.isoformat()] * 2,
        "created": [event.isoformat()] * 2,
        "conv_rate": [0.75, 0.0625],
        "acc_rate": [0.5, 0.25],
        "avg_daily_trips": [7, 8],
    }
    assert compat.client(op="write", view="driver_hourly_stats", df=df) == {"ok": None}
    rows = [{"driver_id": 2001}, {"driver_id": 2002}]
    got = _read(compat, features=DRIVER_FEATURES, entity_rows=rows)
    assert got["conv_rate"] == [0.75, 0.0625] and got["avg_daily_trips"] == [7, 8]
    assert got == _ours(compat.store, DRIVER_FEATURES, rows)
    # online only, as in Feast: training frames do not see the written rows
    frame = compat.store.get_historical_features(
        pd.DataFrame({"driver_id": [2001], "event_timestamp": [NOW]}), DRIVER_FEATURES
    ).to_df()
    assert frame["conv_rate"].isna().all()


def test_write_of_a_nan_feature_through_feasts_client(compat: Compat) -> None:
    """A NaN feature written through Feast's client is taken (Feast turns a frame's NaN into
    a missing value before it posts; a NaN literal in the body is taken too, see
    tests/server/test_feast_wire.py), and reads back as Parity serves it."""
    event = NOW - timedelta(minutes=9)
    df = {
        "driver_id": [2003],
        "event_timestamp": [event.isoformat()],
        "created": [event.isoformat()],
        "conv_rate": [math.nan],
        "acc_rate": [0.5],
        "avg_daily_trips": [9],
    }
    assert compat.client(op="write", view="driver_hourly_stats", df=df) == {"ok": None}
    rows = [{"driver_id": 2003}]
    got = _read(compat, features=DRIVER_FEATURES, entity_rows=rows)
    assert got["avg_daily_trips"] == [9] and got == _ours(compat.store, DRIVER_FEATURES, rows)


def test_push_through_the_client_feeds_the_push_sources_view(compat: Compat) -> None:
    event = NOW - timedelta(minutes=5)
    df = {
        "driver_id": [3001],
        "event_timestamp": [event.isoformat()],
        "created": [event.isoformat()],
        "conv_rate": [0.375],
        "acc_rate": [0.5],
        "avg_daily_trips": [3],
    }
    answer = compat.client(op="push", source="driver_stats_push", df=df, to="ONLINE")
    assert answer == {"ok": None}
    fresh = ["driver_hourly_stats_fresh:conv_rate", "driver_hourly_stats_fresh:avg_daily_trips"]
    got = _read(compat, features=fresh, entity_rows=[{"driver_id": 3001}])
    assert got == {"driver_id": [3001], "conv_rate": [0.375], "avg_daily_trips": [3]}
    assert got == _ours(compat.store, fresh, [{"driver_id": 3001}])


def test_materialize_on_the_client_runs_on_the_server(compat: Compat) -> None:
    # Feast's client with a remote online store posts /materialize and
    # /materialize-incremental: the server materializes from its own offline store
    path = compat.parity_repo / "data" / "customer.parquet"
    landed = datetime.now(UTC) - SECOND
    extra = pa.table(
        {
            "customer_id": ["c9"],
            "event_timestamp": pa.array([NOW - timedelta(hours=2)], TS),
            "created": pa.array([landed], TS),
            "segment": ["bronze"],
            "lifetime_value": [9.5],
        }
    )
    pq.write_table(pa.concat_tables([pq.read_table(path), extra]), path)
    features = ["customer_profile:segment", "customer_profile:lifetime_value"]
    rows = [{"customer_id": "c9"}]
    assert _read(compat, features=features, entity_rows=rows)["segment"] == [None]
    end = datetime.now(UTC)
    cmd = {"start": (NOW - timedelta(days=1)).isoformat(), "end": end.isoformat()}
    answer = compat.client(op="materialize", views=["customer_profile"], **cmd)
    assert answer == {"ok": None}, answer
    got = _read(compat, features=features, entity_rows=rows)
    assert got == {"customer_id": ["c9"], "segment": ["bronze"], "lifetime_value": [9.5]}
    assert got == _ours(compat.store, features, rows)
    later = datetime.now(UTC).isoformat()
    answer = compat.client(op="materialize_incremental", end=later, views=["customer_profile"])
    assert answer == {"ok": None}, answer
    wrong = compat.client(op="materialize", views=["nope"], **cmd)
    # Feast's materialize client raises RuntimeError with the body for any error status
    assert wrong["error"] == "builtins.RuntimeError" and "(404)" in wrong["message"]
    assert "FeatureViewNotFoundException" in wrong["message"] and "'nope'" in wrong["message"]


@pytest.mark.parametrize("to", ["offline", "online", "online_and_offline"])
def test_http_push_honours_to(compat: Compat, to: str) -> None:
    driver = {"offline": 4001, "online": 4002, "online_and_offline": 4003}[to]
    event = NOW - timedelta(minutes=3)
    body = {
        "push_source_name": "driver_stats_push",
        "df": {
            "driver_id": [driver],
            "event_timestamp": [event.replace(tzinfo=None).isoformat()],  # naive = UTC
            "conv_rate": [0.5],
            "acc_rate": [0.5],
            "avg_daily_trips": [1],
        },
        "to": to,
        "allow_registry_cache": True,
        "transform_on_write": True,
    }
    answer = compat.client(op="http_push", body=body)
    assert answer["ok"]["status"] == 200, answer
    online = _ours(compat.store, ["driver_hourly_stats_fresh:conv_rate"], [{"driver_id": driver}])
    frame = compat.store.get_historical_features(
        # created = when the server got the rows: ask just after that
        pd.DataFrame({"driver_id": [driver], "event_timestamp": [datetime.now(UTC) + SECOND]}),
        ["driver_hourly_stats_fresh:conv_rate"],
    ).to_df()
    assert (online["conv_rate"] == [0.5]) == (to != "offline")
    assert (frame["conv_rate"].tolist() == [0.5]) == (to != "online")
    read = compat.store.get_online_features(
        ["driver_hourly_stats_fresh:conv_rate"], [{"driver_id": driver}]
    )
    if to != "offline":  # the naive timestamp was read as UTC
        assert read.columns[0].event_timestamps == [event]


def test_an_unknown_view_raises_feasts_exception_with_our_message(compat: Compat) -> None:
    answer = compat.client(op="read", features=["nope:x"], entity_rows=[{"driver_id": 1}])
    assert answer["error"] == "feast.errors.FeatureViewNotFoundException"
    assert "unknown feature view 'nope'" in answer["message"]
    assert "driver_hourly_stats" in answer["message"]  # ours names the defined views


def test_an_ambiguous_name_raises_feasts_collision_error(compat: Compat) -> None:
    features = ["driver_hourly_stats:conv_rate", "driver_hourly_stats_fresh:conv_rate"]
    answer = compat.client(op="read", features=features, entity_rows=[{"driver_id": 1001}])
    assert answer["error"] == "feast.errors.FeatureNameCollisionError"
    assert "full_feature_names" in answer["message"]


def test_an_unknown_push_source_is_feasts_422(compat: Compat) -> None:
    body = {"push_source_name": "nope", "df": {"driver_id": [1]}, "to": "online"}
    answer = compat.client(op="http_push", body=body)["ok"]
    assert answer["status"] == 422
    assert '"class":"PushSourceNotFoundException"' in answer["body"]
    assert compat.client(op="map_error", body=answer["body"]) == {
        "ok": "feast.errors.PushSourceNotFoundException"
    }


def test_a_wrong_key_type_is_refused_not_truncated(compat: Compat) -> None:
    answer = compat.client(op="read", features=DRIVER_FEATURES, entity_rows=[{"driver_id": 1.5}])
    assert "error" in answer and "422" in answer["message"]
    assert "driver_id" in answer["message"]
