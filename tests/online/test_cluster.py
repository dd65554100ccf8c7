"""The online store on a real local 3-master Redis Cluster."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis
from redis.crc import key_slot

from store.config import OnlineConfig
from store.online import AsyncOnlineStore, OnlineStore, ReadResult, Status, ViewRead

from .helpers import NOW, ago, rows, view

if TYPE_CHECKING:
    from conftest import Cluster

pytestmark = pytest.mark.cluster
VIEWS = [view(f"v{k}", ttl=None) for k in range(3)]


@pytest.fixture
def store(redis_cluster: Cluster, tmp_path: Path) -> Iterator[OnlineStore]:
    redis_cluster.flush()
    online = OnlineStore(OnlineConfig(url=redis_cluster.url, cluster=True), tmp_path, "proj")
    yield online
    online.close()


def _records(n: int, hours: float, label: str) -> list[dict[str, object]]:
    return [
        {
            "user_id": i,
            "amount": float(i),
            "label": label,
            "__event_ts": ago(hours=hours),
            "__created_ts": ago(hours=hours),
        }
        for i in range(n)
    ]


def test_write_read_cas_and_delete(store: OnlineStore, redis_cluster: Cluster) -> None:
    for fv in VIEWS:
        assert store.write(fv, fv.version, rows(fv, _records(300, 1, "new"))).written == 300
    older = store.write(VIEWS[0], VIEWS[0].version, rows(VIEWS[0], _records(300, 2, "old")))
    assert older.skipped_older == 300
    requests = [ViewRead(fv, fv.version, ["label", "amount"]) for fv in VIEWS]
    result = store.read(requests, [{"user_id": i} for i in range(301)], NOW)
    for col in result.columns:
        assert col.statuses == [Status.PRESENT] * 300 + [Status.MISSING]
    assert result.column("v0", "label").values[:300] == ["new"] * 300
    # Keys spread over all masters, yet each entity's views share a slot.
    client = redis_cluster.client()
    assert all(redis.Redis(port=p).dbsize() > 0 for p in redis_cluster.ports)
    assert len({key_slot(f"p:{{proj|5}}:v{k}".encode()) for k in range(3)}) == 1
    store.set_watermark(VIEWS[0], VIEWS[0].version, NOW)
    assert store.get_watermark("v0") == (NOW, VIEWS[0].version)
    assert store.delete_view(VIEWS[1]) == 300
    after = store.read(requests, [{"user_id": 1}], NOW)
    assert after.column("v1", "label").statuses == [Status.MISSING]
    assert after.column("v0", "label").statuses == [Status.PRESENT]
    client.close()


def test_script_cache_loss_on_cluster(store: OnlineStore, redis_cluster: Cluster) -> None:
    fv = VIEWS[0]
    store.write(fv, fv.version, rows(fv, _records(50, 2, "a")))
    for port in redis_cluster.ports:
        node = redis.Redis(port=port)
        node.script_flush()
        node.close()
    assert store.write(fv, fv.version, rows(fv, _records(50, 1, "b"))).written == 50


def test_async_reader_on_cluster(
    store: OnlineStore, redis_cluster: Cluster, tmp_path: Path
) -> None:
    for fv in VIEWS:
        store.write(fv, fv.version, rows(fv, _records(20, 1, "x")))
    requests = [ViewRead(fv, fv.version, ["label"]) for fv in VIEWS]
    entity_rows = [{"user_id": i} for i in range(25)]
    expected = store.read(requests, entity_rows, NOW)

    async def read() -> ReadResult:
        config = OnlineConfig(url=redis_cluster.url, cluster=True)
        online = AsyncOnlineStore(config, tmp_path, "proj")
        try:
            return await online.read(requests, entity_rows, NOW)
        finally:
            await online.close()

    assert asyncio.run(read()) == expected
