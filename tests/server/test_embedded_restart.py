"""The server starts the embedded Redis again when it has died (issue 12, item 11).

The docs say the first process to find the embedded server down starts it; the server kept
answering 503 for as long as it was down.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import redis
import yaml

from store import FeatureStore
from store.online import is_running, stop_embedded
from store.online.embedded import redis_dir, socket_path

from .conftest import NOW, ServerThread, make_repo

GOOD_READ = {"features": ["user_stats:txn_count"], "entities": {"user_id": [1]}}


def _embedded_repo(root: Path, redis_url: str) -> Path:
    repo = make_repo(root, redis_url)  # sources and definitions; then switch to embedded
    config = yaml.safe_load((repo / "parity.yaml").read_text())
    del config["online"]
    (repo / "parity.yaml").write_text(yaml.safe_dump(config))
    data = repo / "data"
    client = redis.Redis(unix_socket_path=str(socket_path(data)))
    with FeatureStore(repo) as fs:
        assert fs.online.ping()  # starts the embedded server
        client.config_set("appendfsync", "always")  # no timing: every write is on disk
        fs.apply()
        fs.materialize(NOW)
    client.close()
    return repo


def _pid(repo: Path) -> int:
    return int((redis_dir(repo / "data") / "redis.pid").read_text())


def test_the_server_restarts_a_dead_embedded_redis(
    tmp_path: Path, redis_url: str, serve_repo: Callable[[Path], ServerThread]
) -> None:
    repo = _embedded_repo(tmp_path / "repo", redis_url)
    data = repo / "data"
    try:
        server = serve_repo(repo)
        with server.client() as http:
            assert http.post("/get-online-features", json=GOOD_READ).status_code == 200
            pid = _pid(repo)
            os.kill(pid, signal.SIGKILL)
            while is_running(data):  # the kernel reaps it; no fixed sleep
                time.sleep(0.01)
            first = http.post("/get-online-features", json=GOOD_READ)
            assert first.status_code == 503, first.text  # this request found it down...
            assert is_running(data) and _pid(repo) != pid  # ...and started it again
            again = http.post("/get-online-features", json=GOOD_READ)
            assert again.status_code == 200, again.text
            values = again.json()["results"][1]["values"]
            assert values[0] is not None  # the data survived (append-only file)
            os.kill(_pid(repo), signal.SIGKILL)
            while is_running(data):
                time.sleep(0.01)
            assert http.get("/ready").status_code == 200  # a probe restarts it as well
    finally:
        stop_embedded(data)


def test_a_paused_embedded_redis_is_never_doubled(
    tmp_path: Path, redis_url: str, serve_repo: Callable[[Path], ServerThread]
) -> None:
    repo = _embedded_repo(tmp_path / "repo", redis_url)
    data = repo / "data"
    try:
        server = serve_repo(repo)
        with server.client() as http:
            pid = _pid(repo)
            os.kill(pid, signal.SIGSTOP)  # alive, not answering: not dead
            try:
                assert http.post("/get-online-features", json=GOOD_READ).status_code == 503
                assert _pid(repo) == pid
            finally:
                os.kill(pid, signal.SIGCONT)
            assert http.post("/get-online-features", json=GOOD_READ).status_code == 200
            assert _pid(repo) == pid
    finally:
        stop_embedded(data)
