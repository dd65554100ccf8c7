"""Online reads: statuses, compound keys, one round trip, async == sync, bad input."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from store.config import OnlineConfig
from store.definitions import Entity
from store.errors import EntityFrameError, FeatureNotFoundError
from store.online import AsyncOnlineStore, OnlineStore, ReadResult, Status, ViewRead
from store.online.keys import entity_keys_from_rows, entity_keys_from_table

from .helpers import NOW, USER, ago, rows, view

TTL = view(ttl=timedelta(hours=1))
MERCHANT = Entity("merchant", {"country": "string", "merchant_id": "int32"})


@pytest.fixture
def store(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> Iterator[OnlineStore]:
    online = OnlineStore(OnlineConfig(url=redis_url), tmp_path, "proj")
    yield online
    online.close()


def _record(user_id: int, event: datetime, **features: Any) -> dict[str, Any]:
    base = {"user_id": user_id, "amount": 1.5, "label": "x"}
    return {**base, **features, "__event_ts": event, "__created_ts": event}


def test_statuses(store: OnlineStore) -> None:
    store.write(
        TTL, TTL.version, rows(TTL, [_record(1, ago(minutes=10)), _record(2, ago(minutes=50))])
    )
    other = view(
        ttl=timedelta(hours=1), fields=[("amount", "float64"), ("label", "string"), ("x", "int64")]
    )
    store.write(other, other.version, rows(other, [_record(3, ago(minutes=5), x=1)]))
    # Read 20 minutes later: user 2's value is then 70 minutes old (expired by the read rule,
    # although its key still lives in Redis).
    later = NOW + timedelta(minutes=20)
    result = store.read(
        [ViewRead(TTL, TTL.version, ["amount", "label"])],
        [{"user_id": i} for i in (1, 2, 3, 4)],
        later,
    )
    amount = result.column("stats", "amount")
    assert amount.statuses == [
        Status.PRESENT,
        Status.EXPIRED,
        Status.VERSION_MISMATCH,
        Status.MISSING,
    ]
    assert amount.values == [1.5, None, None, None]
    assert amount.event_ts == [ago(minutes=10), ago(minutes=50), ago(minutes=5), None]
    assert result.ages(amount) == [timedelta(minutes=30), None, None, None]
    assert result.column("stats", "label").values == ["x", None, None, None]


def test_value_at_exactly_ttl_is_present(store: OnlineStore) -> None:
    store.write(TTL, TTL.version, rows(TTL, [_record(1, ago(minutes=10))]))
    at_ttl = ago(minutes=10) + timedelta(hours=1)
    read = store.read([ViewRead(TTL, TTL.version, ["amount"])], [{"user_id": 1}], at_ttl)
    assert read.columns[0].statuses == [Status.PRESENT]
    read = store.read(
        [ViewRead(TTL, TTL.version, ["amount"])],
        [{"user_id": 1}],
        at_ttl + timedelta(microseconds=1),
    )
    assert read.columns[0].statuses == [Status.EXPIRED]


def test_null_feature_value_is_present(store: OnlineStore) -> None:
    store.write(TTL, TTL.version, rows(TTL, [_record(1, ago(minutes=1), amount=None)]))
    read = store.read([ViewRead(TTL, TTL.version, ["amount"])], [{"user_id": 1}], NOW)
    assert (read.columns[0].values, read.columns[0].statuses) == ([None], [Status.PRESENT])


def test_compound_keys_with_separators_in_strings(store: OnlineStore) -> None:
    fv = view("merchant_stats", entities=[USER, MERCHANT], ttl=None)
    keys = [(1, "a|1", 2), (1, "a", 12), (1, "", 0), (1, "日本|:{}", -5)]
    records = [
        {
            "user_id": u,
            "country": c,
            "merchant_id": m,
            "amount": float(i),
            "label": c,
            "__event_ts": ago(hours=1),
            "__created_ts": ago(hours=1),
        }
        for i, (u, c, m) in enumerate(keys)
    ]
    store.write(fv, fv.version, rows(fv, records))
    entity_rows = [{"user_id": u, "country": c, "merchant_id": m} for u, c, m in keys]
    read = store.read([ViewRead(fv, fv.version, ["amount", "label"])], entity_rows, NOW)
    assert read.column("merchant_stats", "amount").values == [0.0, 1.0, 2.0, 3.0]
    assert read.column("merchant_stats", "label").values == [c for _, c, _ in keys]


KEY_VALUES = st.tuples(
    st.integers(-(2**63), 2**63 - 1), st.text(), st.booleans(), st.datetimes(timezones=st.just(UTC))
)
KEY_TYPES = Entity("k", {"a": "int64", "b": "string", "c": "bool", "d": "timestamp"}).key_types


@given(st.lists(KEY_VALUES, min_size=1, max_size=20))
def test_entity_key_encoding_is_injective_and_matches_tables(values: list[tuple[Any, ...]]) -> None:
    dict_rows = [dict(zip("abcd", v, strict=True)) for v in values]
    encoded = entity_keys_from_rows(dict_rows, KEY_TYPES)
    assert len(set(encoded)) == len(set(values))
    table = pa.Table.from_pylist(
        dict_rows, schema=pa.schema([(k, t.arrow) for k, t in KEY_TYPES.items()])
    )
    assert entity_keys_from_table(table, KEY_TYPES).to_pylist() == encoded


def _commandstats(client: redis.Redis) -> dict[str, int]:
    info = client.info("commandstats")
    return {name: int(stats["calls"]) for name, stats in info.items()}


def test_n_entities_by_k_views_is_one_pipeline_of_hmgets(
    store: OnlineStore, redis_client: redis.Redis
) -> None:
    views = [view(f"v{k}", ttl=None) for k in range(5)]
    for fv in views:
        store.write(fv, fv.version, rows(fv, [_record(i, ago(hours=1)) for i in range(100)]))
    requests = [ViewRead(fv, fv.version, ["amount", "label"]) for fv in views]
    entity_rows = [{"user_id": i} for i in range(100)]
    store.read(requests, entity_rows, NOW)  # warm the connection
    redis_client.config_resetstat()
    result = store.read(requests, entity_rows, NOW)
    calls = _commandstats(redis_client)
    assert calls.pop("cmdstat_hmget") == 500
    assert set(calls) <= {"cmdstat_config|resetstat", "cmdstat_info"}  # this test's probes
    assert all(s is Status.PRESENT for col in result.columns for s in col.statuses)
    # Every key of one entity shares its hash tag (one Cluster slot for all its views).
    slots = {key_slot(f"p:{{proj|7}}:v{k}".encode()) for k in range(5)}
    assert len(slots) == 1


def test_async_reader_equals_sync_reader(
    redis_url: str, store: OnlineStore, tmp_path: Path
) -> None:
    store.write(
        TTL, TTL.version, rows(TTL, [_record(1, ago(minutes=10)), _record(2, ago(minutes=90))])
    )
    requests = [ViewRead(TTL, TTL.version, ["label", "amount"])]
    entity_rows = [{"user_id": i} for i in (2, 1, 3)]
    expected = store.read(requests, entity_rows, NOW)

    async def read() -> ReadResult:
        online = AsyncOnlineStore(OnlineConfig(url=redis_url), tmp_path, "proj")
        try:
            return await online.read(requests, entity_rows, NOW)
        finally:
            await online.close()

    assert asyncio.run(read()) == expected


@pytest.mark.parametrize(
    ("entity_row", "message"),
    [
        ({"user_id": "abc"}, r"row 1: join key 'user_id' must be int64 .*got 'abc'"),
        ({"user": 1}, r"row 1: missing join key 'user_id'"),
        ({"user_id": None}, r"row 1: join key 'user_id' is null"),
        ({"user_id": 1.5}, r"row 1: join key 'user_id' must be int64"),
        ({"user_id": True}, r"row 1: join key 'user_id' must be int64"),
        ({"user_id": 2**63}, r"row 1: join key 'user_id' must be int64"),
    ],
)
def test_bad_entity_rows(store: OnlineStore, entity_row: dict[str, Any], message: str) -> None:
    with pytest.raises(EntityFrameError, match=message):
        store.read([ViewRead(TTL, TTL.version, ["amount"])], [{"user_id": 1}, entity_row], NOW)


def test_other_key_types_accepted(store: OnlineStore) -> None:
    kinds = Entity("kinds", {"s": "string", "i": "int32", "b": "bool", "t": "timestamp"})
    fv = view("kinds_view", entities=[kinds], ttl=None)
    when = datetime(2024, 1, 2, 3, 4, 5, 6)
    record = {
        "s": "x",
        "i": 5,
        "b": True,
        "t": when,
        "amount": 2.0,
        "label": "k",
        "__event_ts": ago(hours=1),
        "__created_ts": ago(hours=1),
    }
    store.write(fv, fv.version, rows(fv, [record]))
    for t in (when, when.replace(tzinfo=UTC), "2024-01-02T03:04:05.000006+00:00"):
        read = store.read(
            [ViewRead(fv, fv.version, ["amount"])], [{"s": "x", "i": 5, "b": True, "t": t}], NOW
        )
        assert read.columns[0].values == [2.0]
    with pytest.raises(EntityFrameError, match="'i' must be int32"):
        store.read(
            [ViewRead(fv, fv.version, ["amount"])],
            [{"s": "x", "i": 2**31, "b": True, "t": when}],
            NOW,
        )
    with pytest.raises(EntityFrameError, match="'s' must be string"):
        store.read(
            [ViewRead(fv, fv.version, ["amount"])], [{"s": 1, "i": 1, "b": True, "t": when}], NOW
        )


def test_unknown_feature(store: OnlineStore) -> None:
    with pytest.raises(FeatureNotFoundError, match="'stats' has no feature 'nope'"):
        store.read([ViewRead(TTL, TTL.version, ["nope"])], [{"user_id": 1}], NOW)


def test_no_entities(store: OnlineStore) -> None:
    result = store.read([ViewRead(TTL, TTL.version, ["amount"])], [], NOW)
    assert result.columns[0].values == []


def test_watermarks_and_delete_view(store: OnlineStore, redis_client: redis.Redis) -> None:
    assert store.get_watermark(TTL) is None
    store.set_watermark(TTL, TTL.version, NOW)
    assert store.get_watermark("stats") == (NOW, TTL.version)
    other = view("other", ttl=None)
    store.write(TTL, TTL.version, rows(TTL, [_record(i, ago(minutes=1)) for i in range(30)]))
    store.write(other, other.version, rows(other, [_record(i, ago(minutes=1)) for i in range(5)]))
    assert store.delete_view(TTL) == 30
    assert store.get_watermark(TTL) is None
    assert redis_client.dbsize() == 5
