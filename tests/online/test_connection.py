"""Unreachable or unresponsive Redis: a prompt OnlineStoreError naming the (masked) URL."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from store.config import OnlineConfig
from store.errors import OnlineStoreError
from store.online import OnlineStore, ViewRead
from store.online.connection import mask_url

from .helpers import NOW, ago, row_of, rows, view

FV = view(ttl=None)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections but never answers (a hung server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def test_mask_url() -> None:
    assert mask_url("redis://user:s3cret@host:6379/0") == "redis://user:***@host:6379/0"
    assert mask_url("rediss://:s3cret@host:6380") == "rediss://:***@host:6380"
    assert mask_url("unix:///tmp/r.sock") == "unix:///tmp/r.sock"


@pytest.mark.parametrize("op", ["ping", "read", "write"])
def test_refused_connection(tmp_path: Path, op: str, unused_port: int) -> None:
    url = f"redis://admin:s3cret@127.0.0.1:{unused_port}/0"
    online = OnlineStore(OnlineConfig(url=url, socket_timeout=0.5), tmp_path, "proj")
    began = time.monotonic()
    with pytest.raises(OnlineStoreError) as err:
        if op == "ping":
            online.ping()
        elif op == "read":
            online.read([ViewRead(FV, FV.version, ["amount"])], [{"user_id": 1}], NOW)
        else:
            record = row_of()
            online.write(FV, FV.version, rows(FV, [record]))
    assert time.monotonic() - began < 3
    assert "redis://admin:***@127.0.0.1" in str(err.value) and "s3cret" not in str(err.value)
    assert isinstance(err.value.__cause__, redis.RedisError)
    assert isinstance(err.value, ConnectionError)


def test_hung_server_times_out(tmp_path: Path, silent_port: int) -> None:
    url = f"redis://127.0.0.1:{silent_port}/0"
    online = OnlineStore(OnlineConfig(url=url, socket_timeout=0.3), tmp_path, "proj")
    began = time.monotonic()
    with pytest.raises(OnlineStoreError, match=f"127.0.0.1:{silent_port}"):
        online.read([ViewRead(FV, FV.version, ["amount"])], [{"user_id": 1}], NOW)
    assert time.monotonic() - began < 3  # timeout x (1 + capped retries), not forever


def test_failed_write_loses_nothing(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, unused_port: int
) -> None:
    good = OnlineStore(OnlineConfig(url=redis_url), tmp_path, "proj")
    record = {
        "user_id": 1,
        "amount": 1.0,
        "label": "kept",
        "__event_ts": ago(hours=2),
        "__created_ts": ago(hours=2),
    }
    good.write(FV, FV.version, rows(FV, [record]))
    down = OnlineStore(OnlineConfig(url=f"redis://127.0.0.1:{unused_port}"), tmp_path, "proj")
    with pytest.raises(OnlineStoreError):
        down.write(
            FV, FV.version, rows(FV, [{**record, "label": "new", "__event_ts": ago(hours=1)}])
        )
    read = good.read([ViewRead(FV, FV.version, ["label"])], [{"user_id": 1}], NOW)
    assert read.columns[0].values == ["kept"]
    good.close()


def test_acl_user_and_password_in_url(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    redis_client.acl_setuser(
        "parity", enabled=True, passwords=["+s3cret"], keys=["*"], commands=["+@all"]
    )
    try:
        port = redis_url.rsplit(":", 1)[1].split("/")[0]
        online = OnlineStore(
            OnlineConfig(url=f"redis://parity:s3cret@127.0.0.1:{port}/0"), tmp_path, "proj"
        )
        assert online.ping()
        assert "s3cret" not in online.url
        bad = OnlineStore(
            OnlineConfig(url=f"redis://parity:wrong@127.0.0.1:{port}/0"), tmp_path, "proj"
        )
        with pytest.raises(OnlineStoreError, match="parity:\\*\\*\\*@"):
            bad.ping()
    finally:
        redis_client.acl_deluser("parity")
