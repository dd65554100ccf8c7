"""Shared fixtures: real, throwaway Redis servers (a single node and a 3-master cluster).

Every server is started on free ports with persistence off and stopped by its pid when the
session ends. A missing ``redis-server`` fails the fixture with the fix; nothing is skipped.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import redis.cluster

# The heavier suites: each has its own marker (see pyproject's markers); every test carrying
# one also gets the marker ``heavy``, which the default run leaves out (addopts) and CI
# selects (``pytest -m heavy``). One list, so the two can never disagree.
HEAVY = ("feast", "browser", "faults", "fuzz", "lab", "e2e", "docker")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(name) for name in HEAVY):
            item.add_marker(pytest.mark.heavy)


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not on the PATH; the tests need a real Redis: "
            "`apt-get install redis-server` (or `brew install redis`)",
            pytrace=False,
        )
    return path


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, with_bus: bool = False) -> int:
    """A free TCP port on localhost (and, ``with_bus``, its cluster bus port + 10000)."""
    for _ in range(200):
        port = random.randint(20000, 50000)
        if _port_free(port) and (not with_bus or _port_free(port + 10000)):
            return port
    raise RuntimeError("no free TCP port found")


def _wait(check: object, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _start_server(port: int, workdir: Path, *extra: str) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    args = [_binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
    args += ["--save", "", "--appendonly", "no", "--dir", str(workdir), *extra]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=1)
    try:
        _wait(client.ping, f"redis-server on port {port}")
    finally:
        client.close()
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def unused_port() -> int:
    """A TCP port nothing listens on (for unreachable-server tests)."""
    return free_port()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A throwaway redis-server for the whole session; yields its TCP port."""
    port = free_port()
    proc = _start_server(port, tmp_path_factory.mktemp("redis"))
    yield port
    _stop(proc)


@pytest.fixture(scope="session")
def redis_url(redis_server: int) -> str:
    """URL of the session's redis-server."""
    return f"redis://127.0.0.1:{redis_server}/0"


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on an empty database (flushed before each test)."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    yield client
    client.close()


@dataclass(frozen=True)
class Cluster:
    """A running local Redis Cluster."""

    ports: tuple[int, ...]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}"

    def client(self) -> redis.cluster.RedisCluster:
        return redis.cluster.RedisCluster(host="127.0.0.1", port=self.ports[0])

    def flush(self) -> None:
        for port in self.ports:
            node = redis.Redis(port=port)
            node.flushall()
            node.close()


def _cluster_ok(node: redis.Redis) -> bool:
    info = node.execute_command("CLUSTER INFO")
    if isinstance(info, dict):
        return str(info.get("cluster_state")) == "ok"
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A real 3-master Redis Cluster on free ports (use with ``@pytest.mark.cluster``)."""
    workdir = tmp_path_factory.mktemp("cluster")
    ports: list[int] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        while len(ports) < 3:
            port = free_port(with_bus=True)
            if port in ports:
                continue
            ports.append(port)
            procs.append(
                _start_server(
                    port,
                    workdir / str(port),
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                )
            )
        nodes = [f"127.0.0.1:{p}" for p in ports]
        subprocess.run(
            [
                _binary("redis-cli"),
                "--cluster",
                "create",
                *nodes,
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for port in ports:
            node = redis.Redis(port=port)
            _wait(lambda n=node: _cluster_ok(n), f"cluster_state:ok on port {port}")
            node.close()
        yield Cluster(tuple(ports))
    finally:
        for proc in procs:
            _stop(proc)
