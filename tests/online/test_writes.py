"""Compare-and-set writes on a real Redis: ordering, versions, expiry, failures."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.config import OnlineConfig
from store.errors import EntityFrameError, OnlineStoreError
from store.online import OnlineStore, Status, ViewRead
from store.online.codec import decode, to_micros

from .helpers import NOW, ago, row_of, rows, view

FV = view(ttl=None)


@pytest.fixture
def store(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> Iterator[OnlineStore]:
    online = OnlineStore(OnlineConfig(url=redis_url), tmp_path, "proj")
    yield online
    online.close()


def stored(client: redis.Redis, user_id: int, view_name: str = "stats") -> dict[bytes, bytes]:
    return client.hgetall(f"p:{{proj|{user_id}}}:{view_name}".encode())  # type: ignore[return-value]


# (event offset, created offset, value): small ranges so ties on (e, c) are common.
WRITES = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.floats(allow_nan=False)),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(writes=WRITES, data=st.data())
def test_final_state_is_the_max_by_event_then_created(
    store: OnlineStore,
    redis_client: redis.Redis,
    writes: list[tuple[int, int, float]],
    data: st.DataObject,
) -> None:
    redis_client.flushall()
    order = data.draw(st.permutations(range(len(writes))))
    expected: tuple[int, int, float] | None = None
    for i in order:  # one row per write call: writers racing in this order
        e, c, value = writes[i]
        record = {
            "user_id": 7,
            "amount": value,
            "label": str(i),
            "__event_ts": ago(hours=10 - e),
            "__created_ts": ago(hours=5 - c),
        }
        store.write(FV, FV.version, rows(FV, [record]))
        if expected is None or (e, c) >= expected[:2]:
            expected = (e, c, i)  # type: ignore[assignment]
    assert expected is not None
    state = stored(redis_client, 7)
    assert int(state[b"_e"]) == to_micros(ago(hours=10 - expected[0]))
    assert int(state[b"_c"]) == to_micros(ago(hours=5 - expected[1]))
    assert decode(state[b"label"]) == str(expected[2])
    # Re-running the same writes in the same order changes nothing (idempotent).
    for i in order:
        e, c, value = writes[i]
        record = {
            "user_id": 7,
            "amount": value,
            "label": str(i),
            "__event_ts": ago(hours=10 - e),
            "__created_ts": ago(hours=5 - c),
        }
        store.write(FV, FV.version, rows(FV, [record]))
    assert stored(redis_client, 7) == state


def test_batch_stats_and_older_rows_kept_back(
    store: OnlineStore, redis_client: redis.Redis
) -> None:
    new = {
        "user_id": 1,
        "amount": 2.0,
        "label": "new",
        "__event_ts": ago(hours=1),
        "__created_ts": ago(hours=1),
    }
    old = {**new, "amount": 1.0, "label": "old", "__event_ts": ago(hours=2)}
    late_fix = {**new, "label": "fix", "__created_ts": ago(minutes=1)}
    assert store.write(FV, FV.version, rows(FV, [new])).written == 1
    stats = store.write(FV, FV.version, rows(FV, [old]))
    assert (stats.written, stats.skipped_older, stats.skipped) == (0, 1, 1)
    assert decode(stored(redis_client, 1)[b"label"]) == "new"
    # Same event time, later created_ts: a correction, so it wins.
    assert store.write(FV, FV.version, rows(FV, [late_fix])).written == 1
    assert decode(stored(redis_client, 1)[b"label"]) == "fix"


def test_new_version_is_authoritative_and_drops_old_fields(
    store: OnlineStore, redis_client: redis.Redis
) -> None:
    v1 = view(fields=[("amount", "float64"), ("label", "string")], ttl=None)
    v2 = view(fields=[("amount", "float64")], ttl=None)
    store.write(
        v1,
        v1.version,
        rows(
            v1,
            [
                {
                    "user_id": 1,
                    "amount": 1.0,
                    "label": "x",
                    "__event_ts": ago(hours=1),
                    "__created_ts": ago(hours=1),
                }
            ],
        ),
    )
    older = {"user_id": 1, "amount": 9.0, "__event_ts": ago(hours=5), "__created_ts": ago(hours=5)}
    assert store.write(v2, v2.version, rows(v2, [older])).written == 1
    state = stored(redis_client, 1)
    assert set(state) == {b"_e", b"_c", b"_v", b"amount"}
    assert state[b"_v"] == v2.version.encode() and decode(state[b"amount"]) == 9.0


def test_keys_expire_at_event_time_plus_ttl(store: OnlineStore, redis_client: redis.Redis) -> None:
    fv = view(ttl=timedelta(hours=2))
    event = ago(minutes=30)
    store.write(
        fv,
        fv.version,
        rows(
            fv,
            [row_of(3, event)],
        ),
    )
    expire_ms = redis_client.execute_command("PEXPIRETIME", b"p:{proj|3}:stats")
    assert expire_ms == (to_micros(event) + 2 * 3600 * 10**6) // 1000 + 1
    store.write(
        FV,
        FV.version,
        rows(
            FV,
            [row_of(4, event)],
        ),
    )
    assert redis_client.pttl(b"p:{proj|4}:stats") == -1  # no ttl: no expiry


def test_already_expired_rows_are_not_written(
    store: OnlineStore, redis_client: redis.Redis
) -> None:
    fv = view(ttl=timedelta(hours=1))
    record = row_of(5, ago(hours=3))
    stats = store.write(fv, fv.version, rows(fv, [record]))
    assert (stats.written, stats.skipped_expired) == (0, 1)
    assert not redis_client.exists(b"p:{proj|5}:stats")


def test_script_cache_loss_is_survived(store: OnlineStore, redis_client: redis.Redis) -> None:
    record = row_of()
    store.write(FV, FV.version, rows(FV, [record]))
    redis_client.script_flush()
    record2 = {**record, "label": "b", "__event_ts": ago(minutes=1)}
    assert store.write(FV, FV.version, rows(FV, [record2])).written == 1
    assert decode(stored(redis_client, 1)[b"label"]) == "b"


def test_many_rows_across_chunks_and_batches(store: OnlineStore, redis_client: redis.Redis) -> None:
    records = [
        {
            "user_id": i,
            "amount": float(i),
            "label": f"u{i}",
            "__event_ts": ago(hours=1),
            "__created_ts": ago(hours=1),
        }
        for i in range(2500)
    ]
    table = rows(FV, records)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=700))
    stats = store.write(FV, FV.version, reader, chunk_size=300)
    assert stats.written == 2500 and redis_client.dbsize() == 2500
    got = store.read([ViewRead(FV, FV.version, ["amount"])], [{"user_id": 2499}], NOW)
    assert got.columns[0].values == [2499.0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop_columns(["label"]), "label"),
        (lambda t: t.drop_columns(["user_id"]), "user_id"),
        (lambda t: t.drop_columns(["__event_ts"]), "__event_ts"),
        (lambda t: t.set_column(0, "user_id", pa.array(["a", "b"])), "user_id"),
        (lambda t: t.set_column(0, "user_id", pa.array([1, None], pa.int64())), "row 1"),
        (lambda t: t.set_column(1, "amount", pa.array(["x", "y"])), "amount"),
    ],
)
def test_bad_batches_fail_before_anything_is_written(
    store: OnlineStore, redis_client: redis.Redis, change: object, message: str
) -> None:
    good = {
        "user_id": 1,
        "amount": 1.0,
        "label": "kept",
        "__event_ts": ago(hours=2),
        "__created_ts": ago(hours=2),
    }
    store.write(FV, FV.version, rows(FV, [good]))
    before = stored(redis_client, 1)
    newer = [{**good, "label": "lost", "__event_ts": ago(hours=1)}, {**good, "user_id": 2}]
    with pytest.raises(EntityFrameError, match=message):
        store.write(FV, FV.version, change(rows(FV, newer)))  # type: ignore[operator]
    assert stored(redis_client, 1) == before and redis_client.dbsize() == 1
    read = store.read([ViewRead(FV, FV.version, ["label"])], [{"user_id": 1}], NOW)
    assert read.columns[0].values == ["kept"] and read.columns[0].statuses == [Status.PRESENT]


def test_server_error_mid_stream_is_reported_and_connection_stays_usable(
    store: OnlineStore, redis_client: redis.Redis
) -> None:
    records = [row_of(i) for i in range(50)]
    redis_client.set(b"p:{proj|25}:stats", b"not a hash")  # makes the script fail on row 25
    with pytest.raises(OnlineStoreError, match="WRONGTYPE"):
        store.write(FV, FV.version, rows(FV, records), chunk_size=10)
    redis_client.delete(b"p:{proj|25}:stats")
    stats = store.write(FV, FV.version, rows(FV, records), chunk_size=10)
    assert stats.rows == 50
    read = store.read(
        [ViewRead(FV, FV.version, ["label"])], [{"user_id": i} for i in range(50)], NOW
    )
    assert read.columns[0].values == ["a"] * 50


def test_pre_epoch_rows_with_ttl_are_expired_not_eternal(
    store: OnlineStore, redis_client: redis.Redis
) -> None:
    fv = view(ttl=timedelta(days=1))
    when = datetime(1960, 1, 1, tzinfo=UTC)
    record = row_of(1, when)
    assert store.write(fv, fv.version, rows(fv, [record])).skipped_expired == 1
    assert not redis_client.exists(b"p:{proj|1}:stats")


def test_concurrent_writers_converge_to_the_newest_row(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    records = [
        {
            "user_id": i % 10,
            "amount": float(i),
            "label": str(i),
            "__event_ts": ago(minutes=(i * 37) % 140),
            "__created_ts": ago(minutes=i % 5),
        }
        for i in range(140)
    ]
    newest = {}
    for r in records:  # per key the max by (event, created); event times are all distinct
        key = r["user_id"]
        if key not in newest or (r["__event_ts"], r["__created_ts"]) > newest[key][0]:
            newest[key] = ((r["__event_ts"], r["__created_ts"]), r["label"])

    def writer(seed: int) -> None:
        order = random.Random(seed).sample(records, len(records))
        online = OnlineStore(OnlineConfig(url=redis_url), tmp_path, "proj")
        for start in range(0, len(order), 7):
            online.write(FV, FV.version, rows(FV, order[start : start + 7]))
        online.close()

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for key, ((event, created), label) in newest.items():
        state = stored(redis_client, key)
        assert (int(state[b"_e"]), int(state[b"_c"])) == (to_micros(event), to_micros(created))
        assert decode(state[b"label"]) == label
