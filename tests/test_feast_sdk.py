"""The SDK speaks Feast: Feast's names and signatures on the one FeatureStore."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import (
    EntityFrameError,
    FeatureServiceNotFoundError,
    FeatureStore,
    FeatureViewNotFoundError,
    PushError,
    PushMode,
    PushSource,
    PushSourceNotFoundError,
)
from store.errors import DefinitionError
from tests.feast_compat.repos import FRESH as FRESH_TS
from tests.feast_compat.repos import NOW, PARITY_DEFINITIONS, parity_repo

DRIVERS = itertools.count(100_000)
DRIVER = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"]
FRESH = ["driver_hourly_stats_fresh:conv_rate"]


@pytest.fixture
def fs(tmp_path: Path, redis_url: str) -> Iterator[FeatureStore]:
    redis.Redis.from_url(redis_url).flushall()
    repo = parity_repo(tmp_path / "repo", redis_url, f"sdk_{uuid.uuid4().hex[:8]}")
    store = FeatureStore(repo_path=repo)
    store.apply()
    yield store
    store.close()


def _row(driver: int, event: datetime, conv: float) -> dict[str, object]:
    return {
        "driver_id": driver,
        "event_timestamp": event,
        "conv_rate": conv,
        "acc_rate": 0.5,
        "avg_daily_trips": 1,
    }


def test_repo_path_lists_and_gets(fs: FeatureStore) -> None:
    assert fs.repo.name == "repo"
    views = [v.name for v in fs.list_feature_views()]
    assert views == ["driver_hourly_stats", "driver_hourly_stats_fresh", "customer_profile"]
    assert [e.name for e in fs.list_entities()] == ["driver", "customer"]
    assert [s.name for s in fs.list_feature_services()] == ["driver_activity"]
    assert fs.get_feature_view("customer_profile").feature_names == ["segment", "lifetime_value"]
    service = fs.get_feature_service("driver_activity")
    with pytest.raises(FeatureViewNotFoundError, match="customer_profile"):
        fs.get_feature_view("nope")
    with pytest.raises(FeatureServiceNotFoundError, match="driver_activity"):
        fs.get_feature_service("nope")
    with pytest.raises(TypeError, match="once"):
        FeatureStore(fs.repo, repo_path=fs.repo)
    # a FeatureService object stands for its name, as Feast passes it
    frame = fs.get_historical_features(
        entity_df=pd.DataFrame(
            {"driver_id": [1001], "customer_id": ["c1"], "event_timestamp": [NOW]}
        ),
        features=service,
        full_feature_names=True,
    )
    assert frame.to_df().loc[0, "customer_profile__segment"] == "gold"


def test_entity_df_as_sql_over_the_offline_store(fs: FeatureStore) -> None:
    sql = (
        "SELECT driver_id, event_timestamp + INTERVAL 1 HOUR AS event_timestamp "
        "FROM driver_hourly_stats ORDER BY driver_id"
    )
    job = fs.get_historical_features(entity_df=sql, features=DRIVER)
    assert job.to_df()["conv_rate"].tolist() == [0.5, 0.25, 0.125]
    assert job.to_arrow().column("avg_daily_trips").to_pylist() == [10, 20, 30]
    with pytest.raises(Exception, match="SELECT"):
        fs.get_historical_features(entity_df="DROP TABLE driver_hourly_stats", features=DRIVER)
    with pytest.raises(EntityFrameError, match="neither an existing Parquet file"):
        fs.get_historical_features(entity_df="missing.parquet", features=DRIVER)
    # a query longer than a file name can be is still a query
    columns = ", ".join(f"driver_id AS alias_{i}" for i in range(40))
    long = f"SELECT driver_id, event_timestamp, {columns} FROM driver_hourly_stats"
    wide = fs.get_historical_features(entity_df=long, features=DRIVER).to_df()
    assert len(wide) == 3 and "alias_39" in wide.columns


def test_materialize_with_feasts_arguments_and_both_entity_shapes(fs: FeatureStore) -> None:
    fs.materialize(NOW - timedelta(days=2), NOW - timedelta(minutes=1))
    rows = fs.get_online_features(features=DRIVER, entity_rows=[{"driver_id": 1002}])
    columns = fs.get_online_features(DRIVER, {"driver_id": [1002, 1003]})
    assert rows.to_dict() == {"driver_id": [1002], "conv_rate": [0.25], "avg_daily_trips": [20]}
    assert rows.to_dict(True)["conv_rate__ts"] == [int(FRESH_TS.timestamp())]  # Feast's option
    unknown = fs.get_online_features(DRIVER, [{"driver_id": 5}]).to_df(True)
    assert unknown["conv_rate__ts"].tolist() == [None]
    assert columns.to_df()["conv_rate"].tolist() == [0.25, 0.125]
    table = columns.to_arrow()
    assert isinstance(table, pa.Table) and table.column_names == [
        "driver_id",
        "conv_rate",
        "avg_daily_trips",
    ]
    assert fs.materialize_incremental(end_date=datetime.now(UTC))
    with pytest.raises(Exception, match="differ in length"):
        fs.get_online_features(DRIVER, {"driver_id": [1], "customer_id": []})


def test_push_source_feeds_its_views_by_mode(fs: FeatureStore) -> None:
    fs.materialize(NOW)
    event = NOW - timedelta(minutes=5)
    online = fs.push("driver_stats_push", pd.DataFrame([_row(7, event, 0.75)]), to=PushMode.ONLINE)
    assert [r.view for r in online.views] == ["driver_hourly_stats_fresh"]
    assert online.written == 1 and online.path is None
    assert fs.get_online_features(FRESH, [{"driver_id": 7}]).to_dict()["conv_rate"] == [0.75]
    later = datetime.now(UTC) + timedelta(seconds=1)
    frame = fs.get_historical_features(
        pd.DataFrame({"driver_id": [7], "event_timestamp": [later]}), FRESH
    )
    assert frame.to_df()["conv_rate"].isna().all()  # online only: training does not see it
    assert not list((fs.data_dir / "push-staging").rglob("*.parquet"))

    offline = fs.push("driver_stats_push", [_row(8, event, 0.5)], to="offline")
    assert offline.written == 0 and offline.views[0].path is not None
    assert fs.get_online_features(FRESH, [{"driver_id": 8}]).to_dict()["conv_rate"] == [None]
    fs.materialize_incremental(datetime.now(UTC))  # brings the offline push online
    assert fs.get_online_features(FRESH, [{"driver_id": 8}]).to_dict()["conv_rate"] == [0.5]


def test_feasts_created_column_and_naive_timestamps(fs: FeatureStore) -> None:
    event = (NOW - timedelta(minutes=30)).replace(tzinfo=None)
    created = NOW - timedelta(minutes=20)
    result = fs.write_to_online_store(
        "driver_hourly_stats",
        pd.DataFrame([{**_row(9, event, 0.25), "created": created.isoformat()}]),
    )
    assert result.written == 1 and result.to == "online"
    col = fs.get_online_features(DRIVER, [{"driver_id": 9}]).columns[0]
    assert col.values == [0.25] and col.event_timestamps == [event.replace(tzinfo=UTC)]
    future = NOW + timedelta(days=1)
    with pytest.raises(PushError, match="in the future"):
        fs.push("driver_hourly_stats", [{**_row(9, event, 0.5), "created": future}])


def test_push_errors_name_the_source(fs: FeatureStore) -> None:
    with pytest.raises(PushSourceNotFoundError, match="driver_stats_push"):
        fs.push("nope", [_row(1, NOW, 0.1)])
    with pytest.raises(PushError, match=r"\['colour'\] belong to none"):
        fs.push("driver_stats_push", [{**_row(1, NOW, 0.1), "colour": "red"}])
    with pytest.raises(PushError, match="push mode"):
        fs.push("driver_stats_push", [_row(1, NOW, 0.1)], to="sideways")


def test_push_source_definitions_are_checked(tmp_path: Path, redis_url: str) -> None:
    with pytest.raises(DefinitionError, match="at least one"):
        PushSource("p", views=[])
    for extra, message in [
        ("bad = PushSource('bad', views=['nope'])", "unknown feature view 'nope'"),
        ("clash = PushSource('customer_profile', views=['customer_profile'])", "rename"),
    ]:
        repo = parity_repo(tmp_path / extra[:3], redis_url, "p")
        (repo / "features.py").write_text(PARITY_DEFINITIONS + "\n" + extra + "\n")
        with pytest.raises(DefinitionError, match=message):
            FeatureStore(repo).list_feature_views()


def test_cli_push_to_a_push_source_with_a_mode(fs: FeatureStore, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from store.cli import app

    rows = tmp_path / "rows.parquet"
    pd.DataFrame([_row(11, NOW - timedelta(minutes=2), 0.5)]).to_parquet(rows)
    args = ["push", "driver_stats_push", str(rows), "--to", "offline", "--repo", str(fs.repo)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "(offline): 0 written online" in text
    assert "/push/driver_hourly_stats_fresh/" in "".join(result.output.split())
    bad = CliRunner().invoke(app, [*args[:3], "--to", "up", "--repo", str(fs.repo)])
    assert bad.exit_code == 2 and "push mode" in " ".join(bad.output.split())


OFFSETS = [None, timedelta(0), timedelta(hours=5, minutes=30), timedelta(hours=-8)]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    minutes=st.integers(min_value=1, max_value=600),
    micros=st.integers(min_value=0, max_value=999_999),
    offset=st.sampled_from(OFFSETS),
    spelled=st.sampled_from(["iso", "str", "datetime"]),
)
def test_a_pushed_event_time_is_one_instant_however_it_is_spelled(
    fs: FeatureStore, minutes: int, micros: int, offset: timedelta | None, spelled: str
) -> None:
    # naive = UTC, an offset is converted (never reinterpreted), as Feast's writers send them
    instant = NOW - timedelta(minutes=minutes, microseconds=micros)
    local = instant.replace(tzinfo=None) if offset is None else instant.astimezone(timezone(offset))
    value: object = {"iso": local.isoformat(), "str": str(local), "datetime": local}[spelled]
    driver = next(DRIVERS)
    fs.write_to_online_store(
        "driver_hourly_stats", [{**_row(driver, NOW, 0.5), "event_timestamp": value}]
    )
    col = fs.get_online_features(DRIVER, [{"driver_id": driver}]).columns[0]
    assert col.event_timestamps == [instant] and col.values == [0.5]
