"""Fault injection (issue 12, Proof): kill -9 of the materializer at random points, Redis
stopped and paused during read, push and materialize, and concurrent writers on the same keys.

Run with ``pytest -m faults``; each test takes seconds.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import redis

from store import FeatureStore, OnlineStoreError, Status

from .conftest import _start_server, _stop, free_port
from .facade_helpers import store_for
from .test_push_and_failures import MODULE, _rows

pytestmark = pytest.mark.faults

NOW = datetime.now(UTC).replace(microsecond=0)
T0, T1 = NOW - timedelta(hours=4), NOW - timedelta(minutes=2)
USERS = 12_000  # 6 pipeline chunks of 2,000 keys per run
FIELDS = {b"_e", b"_c", b"_v", b"amount", b"doubled"}

# The materializer, killed by SIGKILL from inside after its k-th pipeline round trip (k = -1:
# after every value is written, just before the watermark is committed).
CRASHER = """
import os, signal, sys
from datetime import datetime
import store.online.writer as writer
from store import FeatureStore
from store.online.store import OnlineStore

k = int(sys.argv[3])
sent = 0
original = writer.stream
def stream(client, chunks):
    global sent
    for replies in original(client, chunks):
        sent += 1
        if sent == k:
            os.kill(os.getpid(), signal.SIGKILL)
        yield replies
writer.stream = stream
commit = OnlineStore.set_watermark
def set_watermark(self, *args):
    if k == -1:
        os.kill(os.getpid(), signal.SIGKILL)
    return commit(self, *args)
OnlineStore.set_watermark = set_watermark
FeatureStore(sys.argv[1]).materialize(datetime.fromisoformat(sys.argv[2]))
print("done", flush=True)
"""


def _repo(root: Path, url: str, *, socket_timeout: float | None = None) -> FeatureStore:
    (root / "data" / "stats").mkdir(parents=True)
    pq.write_table(
        _rows(range(1, USERS + 1), T0 - timedelta(hours=1), 1.0), root / "data/stats/a.parquet"
    )
    fs = store_for(root, MODULE, url)
    if socket_timeout is not None:
        config = root / "parity.yaml"
        config.write_text(config.read_text() + f"  socket_timeout: {socket_timeout}\n")
        fs = FeatureStore(root)
    fs.apply()
    fs.materialize(T0)
    return fs


def _check_whole_rows(client: redis.Redis, fs: FeatureStore) -> None:
    """Every key holds one whole row, old or new; nothing else."""
    for key in client.scan_iter(match="*stats", count=5000):
        assert set(client.hgetall(key)) == FIELDS
    users = [{"user_id": u} for u in range(1, USERS + 1, 37)]
    resp = fs.get_online_features(["stats:amount", "stats:doubled"], users, now=NOW)
    pairs = set(zip(resp.columns[0].values, resp.columns[1].values, strict=True))
    assert pairs <= {(1.0, 2.0), (3.0, 6.0)}, pairs


def test_kill_9_at_random_points_leaves_whole_rows_and_the_next_run_completes(
    tmp_path: Path, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    fs = _repo(tmp_path, redis_url)
    first = fs.online.get_watermark("stats")
    pq.write_table(
        _rows(range(1, USERS + 1), T1 - timedelta(minutes=5), 3.0),
        tmp_path / "data/stats/b.parquet",
    )
    points = [*sorted(random.Random(12).sample(range(1, 7), 5)), -1]
    for k in points:
        proc = subprocess.run(
            [sys.executable, "-c", CRASHER, str(tmp_path), T1.isoformat(), str(k)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == -signal.SIGKILL, (k, proc.stdout, proc.stderr)
        assert fs.online.get_watermark("stats") == first  # nothing claims the new state
        _check_whole_rows(client, fs)
    [result] = fs.materialize_incremental(T1)
    assert not result.superseded
    assert fs.online.get_watermark("stats")[0] == T1
    users = [{"user_id": u} for u in range(1, USERS + 1, 37)]
    resp = fs.get_online_features(["stats:amount"], users, now=NOW)
    assert set(resp.columns[0].values) == {3.0}
    assert fs.audit_parity(["stats"]).status == "ok"
    fs.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    port = free_port()
    procs = [_start_server(port, tmp_path / "redis")]
    yield port, procs
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            _stop(proc)


def _bounded(call: object, bound: float = 10.0) -> OnlineStoreError:
    start = time.monotonic()
    with pytest.raises(OnlineStoreError) as info:
        call()  # type: ignore[operator]
    assert time.monotonic() - start < bound, "the error took too long"
    return info.value


@pytest.mark.parametrize("fault", ["paused", "stopped"])
def test_redis_paused_or_stopped_during_read_push_materialize(
    tmp_path: Path, own_redis: tuple[int, list[subprocess.Popen[bytes]]], fault: str
) -> None:
    port, procs = own_redis
    fs = _repo(tmp_path / "repo", f"redis://127.0.0.1:{port}/0", socket_timeout=0.5)
    pq.write_table(
        _rows(range(1, USERS + 1), T1 - timedelta(minutes=5), 3.0),
        tmp_path / "repo/data/stats/b.parquet",
    )
    row = {"user_id": 1, "event_timestamp": NOW - timedelta(minutes=1), "amount": 5.0}
    if fault == "paused":
        os.kill(procs[0].pid, signal.SIGSTOP)
    else:
        _stop(procs[0])
    try:
        _bounded(lambda: fs.get_online_features(["stats:amount"], [{"user_id": 1}]))
        _bounded(lambda: fs.push("stats", [row], push_id="during-fault"))
        _bounded(lambda: fs.materialize(T1))
    finally:
        if fault == "paused":
            os.kill(procs[0].pid, signal.SIGCONT)
        else:  # a new, empty server on the same port (it kept nothing)
            procs.append(_start_server(port, tmp_path / "redis2"))
    # Recovery without a restart: the same FeatureStore, its pools reconnect.
    if fault == "stopped":
        fs.materialize(T0)  # what the empty server lost comes back from the offline side
    retry = fs.push("stats", [row], push_id="during-fault")
    assert retry.status == "duplicate"  # appended once, before the fault was noticed
    [done] = fs.materialize_incremental(T1)
    assert fs.online.get_watermark("stats")[0] == T1 and not done.superseded
    got = fs.get_online_features(["stats:amount"], [{"user_id": 1}, {"user_id": 2}], now=NOW)
    assert got.columns[0].values == [5.0, 3.0]  # the push is not lost, nor overwritten
    assert got.columns[0].statuses == [Status.PRESENT, Status.PRESENT]
    files = list((fs.data_dir / "push" / "stats").glob("*.parquet"))
    assert len(files) == 1  # no duplicate rows offline
    assert fs.audit_parity(["stats"]).status == "ok"
    fs.close()


def test_concurrent_materialize_push_materialize_never_go_backwards(
    tmp_path: Path, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    fs = _repo(tmp_path, redis_url)
    pq.write_table(
        _rows(range(1, USERS + 1), T1 - timedelta(minutes=5), 3.0),
        tmp_path / "data/stats/b.parquet",
    )
    watched = [{"user_id": u} for u in range(1, USERS + 1, 401)]
    stop = threading.Event()
    problems: list[str] = []

    def watch() -> None:
        with FeatureStore(tmp_path) as reader:
            seen: dict[int, datetime] = {}
            mark = reader.online.get_watermark("stats")
            while not stop.is_set():
                col = reader.get_online_features(["stats:amount"], watched, now=NOW).columns[0]
                for row, event in zip(watched, col.event_timestamps, strict=True):
                    user = row["user_id"]
                    if event is not None and user in seen and event < seen[user]:
                        problems.append(f"user {user}: {seen[user]} -> {event}")
                    if event is not None:
                        seen[user] = event
                now_mark = reader.online.get_watermark("stats")
                if mark and now_mark and now_mark[0] < mark[0]:
                    problems.append(f"watermark {mark[0]} -> {now_mark[0]}")
                mark = now_mark

    def run(job: str) -> None:
        with FeatureStore(tmp_path) as store:
            if job == "push":
                rows = [
                    {
                        "user_id": r["user_id"],
                        "event_timestamp": NOW - timedelta(minutes=1),
                        "amount": 9.0,
                    }
                    for r in watched
                ]
                store.push("stats", rows, push_id="concurrent")
            else:
                store.materialize(T1 if job == "newer" else T0 + timedelta(minutes=30))

    watcher = threading.Thread(target=watch)
    watcher.start()
    jobs = [threading.Thread(target=run, args=(j,)) for j in ("newer", "push", "older", "newer")]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    stop.set()
    watcher.join()
    assert not problems, problems[:5]
    assert fs.online.get_watermark("stats")[0] == T1
    col = fs.get_online_features(["stats:amount"], watched, now=NOW).columns[0]
    assert set(col.values) == {9.0}  # the pushed values, newer than both runs, stay
    assert fs.audit_parity(["stats"]).status == "ok"
    fs.close()
