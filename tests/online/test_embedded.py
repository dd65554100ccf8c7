"""The embedded redis-server: started on demand, shared, persistent, stoppable."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from store.config import OnlineConfig
from store.online import OnlineStore, ViewRead, ensure_embedded, is_running, stop_embedded
from store.online.embedded import redis_dir, socket_path

from .helpers import NOW, row_of, rows, view

FV = view(ttl=timedelta(days=1))


def _pid(data_dir: Path) -> int:
    return int((redis_dir(data_dir) / "redis.pid").read_text())


def test_start_reuse_persist_stop(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    try:
        online = OnlineStore(OnlineConfig(), data_dir, "proj")
        assert online.ping()  # starts the server lazily
        url = ensure_embedded(data_dir)
        assert url == f"unix://{data_dir.resolve()}/redis/redis.sock"
        pid = _pid(data_dir)
        record = row_of()
        online.write(FV, FV.version, rows(FV, [record]))
        online.close()
        # Another "process" of the repo reuses the running server.
        assert ensure_embedded(data_dir) == url and _pid(data_dir) == pid
        assert stop_embedded(data_dir)
        assert not is_running(data_dir)
        assert not stop_embedded(data_dir)
        # Persistence: the value survives a restart.
        again = OnlineStore(OnlineConfig(), data_dir, "proj")
        read = again.read([ViewRead(FV, FV.version, ["label"])], [{"user_id": 1}], NOW)
        assert read.columns[0].values == ["a"]
        assert _pid(data_dir) != pid
        again.close()
        assert (redis_dir(data_dir) / "appendonlydir").is_dir()
    finally:
        stop_embedded(data_dir)


def test_concurrent_first_starts_share_one_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    try:
        with ThreadPoolExecutor(6) as pool:
            urls = set(pool.map(lambda _: ensure_embedded(data_dir), range(6)))
        assert len(urls) == 1
        os.kill(_pid(data_dir), 0)  # exactly one pid file, naming a live server
    finally:
        stop_embedded(data_dir)


def test_deep_data_dir_gets_a_short_socket(tmp_path: Path) -> None:
    data_dir = tmp_path / ("d" * 60) / ("e" * 60)
    try:
        url = ensure_embedded(data_dir)
        assert len(str(socket_path(data_dir))) <= 100 and url.startswith("unix://")
        assert is_running(data_dir)
    finally:
        stop_embedded(data_dir)


def test_restarts_after_the_server_was_killed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    try:
        ensure_embedded(data_dir)
        pid = _pid(data_dir)
        os.kill(pid, signal.SIGKILL)  # a crash: stale socket and pid files stay behind
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.01)
        assert not is_running(data_dir)
        ensure_embedded(data_dir)
        assert is_running(data_dir) and _pid(data_dir) != pid
    finally:
        stop_embedded(data_dir)
