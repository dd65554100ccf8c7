"""Fixtures for the feature server: a real feature repo on a real Redis, served by uvicorn.

The repo (``parity.yaml``, a definitions module and small Parquet files) is built in a temp
folder, applied and materialized through the SDK; the server runs in a thread on a free port.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uvicorn
import yaml

from store import FeatureStore
from store.server import create_app

NOW = datetime.now(UTC).replace(microsecond=0)
FRESH = NOW - timedelta(hours=2)  # inside every ttl
STALE = NOW - timedelta(days=3)  # outside user_risk's 1-day ttl

DEFINITIONS = """
from datetime import timedelta
from store import Entity, FeatureService, FeatureView, Field, ParquetSource

user = Entity("user", join_keys={"user_id": "int64"})
merchant = Entity("merchant", join_keys={"merchant_id": "string"})

user_stats = FeatureView(
    name="user_stats",
    entities=[user],
    source=ParquetSource("user_stats.parquet", created_timestamp="created_timestamp"),
    fields=[
        Field("txn_count", "int64"),
        Field("amount", "float64"),
        Field("country", "string"),
        Field("verified", "bool"),
        Field("last_login", "timestamp"),
        Field("scores", "list<float64>"),
    ],
    ttl=timedelta(days=2),
    owner="risk@example.com",
)
user_risk = FeatureView(
    name="user_risk",
    entities=[user],
    source=ParquetSource("user_risk.parquet"),
    fields=[Field("risk", "float64"), Field("amount", "float64")],
    ttl=timedelta(days=1),
)
merchant_stats = FeatureView(
    name="merchant_stats",
    entities=[merchant],
    source=ParquetSource("merchant_stats.parquet"),
    fields=[Field("category", "string")],
    ttl=timedelta(days=7),
)
scoring = FeatureService(
    "scoring", features=["user_stats:txn_count", "user_risk:risk", "merchant_stats"]
)
"""

TS = pa.timestamp("us", tz="UTC")


def _write_sources(repo: Path) -> None:
    stats = pa.table(
        {
            "user_id": pa.array([1, 2, 3], pa.int64()),
            "event_timestamp": pa.array([FRESH, FRESH, FRESH], TS),
            "created_timestamp": pa.array([FRESH, FRESH, FRESH], TS),
            "txn_count": pa.array([5, None, 7], pa.int64()),
            "amount": pa.array([12.5, float("nan"), float("inf")], pa.float64()),
            "country": pa.array(["FR", "DE", "é|{x}"], pa.string()),
            "verified": pa.array([True, False, None], pa.bool_()),
            "last_login": pa.array([FRESH - timedelta(days=1), None, FRESH], TS),
            "scores": pa.array([[0.5, 1.5], [], None], pa.list_(pa.float64())),
        }
    )
    pq.write_table(stats, repo / "user_stats.parquet")
    risk = pa.table(
        {
            "user_id": pa.array([1, 2], pa.int64()),
            "event_timestamp": pa.array([FRESH, STALE], TS),
            "risk": pa.array([0.25, 0.75], pa.float64()),
            "amount": pa.array([100.0, 200.0], pa.float64()),
        }
    )
    pq.write_table(risk, repo / "user_risk.parquet")
    merchants = pa.table(
        {
            "merchant_id": pa.array(["m1", "m2"], pa.string()),
            "event_timestamp": pa.array([FRESH, FRESH], TS),
            "category": pa.array(["books", "games"], pa.string()),
        }
    )
    pq.write_table(merchants, repo / "merchant_stats.parquet")


def make_repo(
    root: Path,
    redis_url: str,
    server: dict[str, Any] | None = None,
    modules: dict[str, str] | None = None,
) -> Path:
    """A feature repo on ``redis_url`` (unique project), applied and materialized.

    ``modules`` adds definitions modules (file name -> source) next to ``features.py``.
    """
    root.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "project": f"srv_{uuid.uuid4().hex[:10]}",
        "data_dir": "data",
        "online": {"url": redis_url},
    }
    if server:
        config["server"] = server
    (root / "parity.yaml").write_text(yaml.safe_dump(config))
    (root / "features.py").write_text(DEFINITIONS)
    for name, source in (modules or {}).items():
        (root / name).write_text(source)
    _write_sources(root)
    fs = FeatureStore(root)
    fs.apply()
    fs.materialize(NOW - timedelta(minutes=1))
    # Redis expires a key when its ttl runs out, so a value older than the ttl is only
    # ever read when the key outlived it: store user 2's 3-day-old risk with a longer key
    # expiry, so the server must judge it EXPIRED itself.
    [(risk, version)] = fs.applied_views(["user_risk"])
    stale = pa.table(
        {
            "user_id": pa.array([2], pa.int64()),
            "risk": [0.75],
            "amount": [200.0],
            "__event_ts": pa.array([STALE], TS),
            "__created_ts": pa.array([STALE], TS),
        }
    )
    fs.online.write(risk, version, stale, ttl=timedelta(days=30))
    fs.close()
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """uvicorn serving ``create_app(FeatureStore(repo))`` in a thread."""

    def __init__(self, repo: Path) -> None:
        self.store = FeatureStore(repo)
        self.app = create_app(self.store)
        self.port = free_port()
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the feature server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=15, **kwargs)


@dataclass
class Served:
    repo: Path
    server: ServerThread
    http: httpx.Client

    @property
    def store(self) -> FeatureStore:
        return self.server.store


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Served]:
    """One repo and one server (no API keys) shared by a test module."""
    repo = make_repo(tmp_path_factory.mktemp("repo"), redis_url)
    with ServerThread(repo) as server, server.client() as http:
        yield Served(repo, server, http)


@pytest.fixture
def serve_repo(tmp_path: Path) -> Iterator[Callable[[Path], ServerThread]]:
    """Start a server for a given repo; stopped at the end of the test."""
    started: list[ServerThread] = []

    def start(repo: Path) -> ServerThread:
        server = ServerThread(repo).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own (so the test may kill it)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.02)
    yield f"redis://127.0.0.1:{port}/0", proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
