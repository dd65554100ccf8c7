"""A read of N entities x K views costs one network round trip, seen on the wire."""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from store.config import OnlineConfig
from store.online import OnlineStore, Status, ViewRead

from .helpers import NOW, ago, rows, view


class TurnCountingProxy:
    """A TCP proxy to Redis counting request turns: client bytes that follow server bytes."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.turns = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ)
        peers: dict[socket.socket, tuple[socket.socket, bool]] = {}
        last_from_client: dict[socket.socket, bool] = {}
        while not self._stop.is_set():
            for key, _ in sel.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self.listener:
                    client, _ = self.listener.accept()
                    server = socket.create_connection(("127.0.0.1", self.upstream_port))
                    peers[client], peers[server] = (server, True), (client, False)
                    last_from_client[client] = False
                    sel.register(client, selectors.EVENT_READ)
                    sel.register(server, selectors.EVENT_READ)
                    continue
                other, from_client = peers[sock]
                data = sock.recv(1 << 20)
                if not data:
                    sel.unregister(sock)
                    sel.unregister(other)
                    sock.close()
                    other.close()
                    continue
                client = sock if from_client else other
                if from_client and not last_from_client[client]:
                    self.turns += 1
                last_from_client[client] = from_client
                other.sendall(data)
        sel.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def proxy(redis_server: int, redis_client: redis.Redis) -> Iterator[TurnCountingProxy]:
    counting = TurnCountingProxy(redis_server)
    yield counting
    counting.close()


def test_read_is_one_round_trip(proxy: TurnCountingProxy, tmp_path: Path) -> None:
    views = [view(f"v{k}", ttl=None) for k in range(5)]
    online = OnlineStore(OnlineConfig(url=f"redis://127.0.0.1:{proxy.port}/0"), tmp_path, "p")
    for fv in views:
        records = [
            {
                "user_id": i,
                "amount": 1.0,
                "label": "x",
                "__event_ts": ago(hours=1),
                "__created_ts": ago(hours=1),
            }
            for i in range(10)
        ]
        online.write(fv, fv.version, rows(fv, records))
    requests = [ViewRead(fv, fv.version, ["amount", "label"]) for fv in views]
    entity_rows = [{"user_id": i} for i in range(10)]
    online.read(requests, entity_rows, NOW)  # the connection is open and warm
    before = proxy.turns
    result = online.read(requests, entity_rows, NOW)
    assert proxy.turns - before == 1
    assert all(s is Status.PRESENT for col in result.columns for s in col.statuses)
    # A write costs at most one round trip per chunk (fewer: the next chunk is sent before
    # the previous chunk's replies are read).
    before = proxy.turns
    online.write(views[0], views[0].version, rows(views[0], records), chunk_size=4)
    assert 1 <= proxy.turns - before <= 3
    online.close()
