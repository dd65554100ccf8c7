"""The served-feature log: written off the request path, sampled by key, rotated and bounded."""

from __future__ import annotations

import math
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from store.online_response import FeatureColumn, OnlineResponse, Status
from store.served_log import ServedLogWriter, key_sampled, log_files, read_served_log
from store.types import ValueType
from tests.server.conftest import Served


def _response(users: list[int], values: list[object] | None = None) -> OnlineResponse:
    now = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    values = values if values is not None else [float(u) for u in users]
    col = FeatureColumn(
        "amount",
        "stats",
        "amount",
        "v1",
        list(values),
        [Status.PRESENT if v is not None else Status.MISSING for v in values],
        [now if v is not None else None for v in values],
    )
    return OnlineResponse([{"user_id": u} for u in users], [col], now)


def _write(tmp_path: Path, responses: list[OnlineResponse], **kwargs: float) -> ServedLogWriter:
    writer = ServedLogWriter(tmp_path / "served", **kwargs)  # type: ignore[arg-type]
    writer.start()
    for i, resp in enumerate(responses):
        writer.record(resp, request_id=f"r{i}", request_time=resp.read_at)
    writer.close()
    return writer


def test_values_round_trip_through_the_reader(tmp_path: Path) -> None:
    values: list[object] = [1.5, math.nan, -math.inf, None, "x|y", [1.0, math.inf], True, 7]
    _write(tmp_path, [_response(list(range(len(values))), values)])
    table = read_served_log(tmp_path)
    assert table.num_rows == len(values)
    rows = table.to_pylist()
    assert [r["entity_key"] for r in rows][:2] == ['{"user_id":0}', '{"user_id":1}']
    assert rows[0]["value_number"] == 1.5
    assert math.isnan(rows[1]["value_number"])
    assert rows[2]["value_number"] == -math.inf
    assert rows[3]["status"] == "MISSING" and rows[3]["value"] == "null"
    assert rows[3]["event_timestamp"] is None
    assert rows[4]["value_string"] == "x|y"
    assert orjson.loads(rows[5]["value"]) == [1.0, {"$float": "Infinity"}]
    assert rows[6]["value_number"] == 1.0 and rows[7]["value_number"] == 7.0
    assert {r["view"] for r in rows} == {"stats"} and {r["version"] for r in rows} == {"v1"}
    assert rows[0]["request_id"] == "r0"
    assert rows[0]["event_timestamp"] == datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def test_sampling_is_stable_per_key() -> None:
    keys = [{"user_id": i} for i in range(4000)]
    first = [key_sampled(k, 0.25) for k in keys]
    assert first == [key_sampled(dict(k), 0.25) for k in keys]
    assert 800 < sum(first) < 1200
    assert all(key_sampled(k, 1.0) for k in keys[:10])
    assert not any(key_sampled(k, 0.0) for k in keys[:10])
    # a key sampled at a low rate stays sampled at a higher one
    low = [key_sampled(k, 0.1) for k in keys]
    assert all(f for f, lo in zip(first, low, strict=True) if lo)


def test_sampled_keys_are_logged_on_every_request(tmp_path: Path) -> None:
    responses = [_response(list(range(50))) for _ in range(5)]
    _write(tmp_path, responses, sample_rate=0.3)
    table = read_served_log(tmp_path)
    per_request: dict[str, set[str]] = {}
    for row in table.to_pylist():
        per_request.setdefault(row["request_id"], set()).add(row["entity_key"])
    sets = list(per_request.values())
    assert len(sets) == 5 and all(s == sets[0] for s in sets)
    assert 0 < len(sets[0]) < 50


def test_rotation_keeps_at_most_max_files(tmp_path: Path) -> None:
    writer = _write(tmp_path, [_response([1, 2, 3]) for _ in range(60)], max_bytes=600, max_files=3)
    files = log_files(tmp_path / "served")
    assert len(files) == 3
    assert all(f.stat().st_size <= 600 for f in files)
    assert writer.written == 60 and writer.dropped == 0
    name = re.compile(rf"served-\d{{8}}-\d{{6}}-{os.getpid()}-\d{{6}}\.jsonl")
    assert all(name.fullmatch(f.name) for f in files)
    # the newest files survive
    table = read_served_log(tmp_path)
    assert "r59" in set(table.column("request_id").to_pylist())


def test_full_queue_drops_instead_of_blocking(tmp_path: Path) -> None:
    writer = ServedLogWriter(tmp_path / "served", queue_size=1)
    writer.start()
    start = time.perf_counter()
    for i in range(2000):
        writer.record(_response([1, 2]), request_id=str(i), request_time=datetime.now(UTC))
    assert time.perf_counter() - start < 2.0
    writer.close()
    assert writer.written + writer.dropped == 2000


def test_truncated_last_line_is_skipped(tmp_path: Path) -> None:
    _write(tmp_path, [_response([1])])
    [path] = log_files(tmp_path / "served")
    with open(path, "ab") as handle:
        handle.write(b'{"v": 1, "request_ti')
    assert read_served_log(tmp_path).num_rows == 1


def test_server_logs_what_it_served(served: Served) -> None:
    resp = served.http.post(
        "/get-online-features",
        json={"features": ["user_risk:risk"], "entities": {"user_id": [1, 2, 77]}},
        headers={"X-Request-ID": "audit-me"},
    )
    assert resp.status_code == 200
    data_dir = served.store.data_dir
    deadline = time.monotonic() + 5
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        rows = [r for r in read_served_log(data_dir).to_pylist() if r["request_id"] == "audit-me"]
        if rows:
            break
        time.sleep(0.05)
    assert [(r["entity_key"], r["status"], r["value_number"]) for r in rows] == [
        ('{"user_id":1}', "PRESENT", 0.25),
        ('{"user_id":2}', "EXPIRED", None),
        ('{"user_id":77}', "MISSING", None),
    ]
    version = served.store.registry.view_version("user_risk")
    assert {r["version"] for r in rows} == {version}


@pytest.mark.parametrize("rate", [0.0])
def test_rate_zero_writes_nothing(tmp_path: Path, rate: float) -> None:
    _write(tmp_path, [_response([1, 2])], sample_rate=rate)
    assert log_files(tmp_path / "served") == []


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _until(check: object) -> None:
    deadline = time.monotonic() + 20
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the writer thread did not catch up"
        time.sleep(0.01)


def test_a_file_older_than_rotate_seconds_is_rotated(tmp_path: Path) -> None:
    # issue 12 item 12: the log grew ~1.9 KB per request with no retention by age
    clock = _Clock()
    writer = ServedLogWriter(tmp_path / "served", rotate_seconds=3600, clock=clock)
    writer.start()
    writer.record(_response([1]), request_id="r0", request_time=datetime.now(UTC))
    _until(lambda: writer.written == 1)
    writer.record(_response([2]), request_id="r1", request_time=datetime.now(UTC))
    _until(lambda: writer.written == 2)
    assert len(log_files(tmp_path / "served")) == 1  # younger than an hour: same file
    clock.now += 3601
    writer.record(_response([3]), request_id="r2", request_time=datetime.now(UTC))
    writer.close()
    files = log_files(tmp_path / "served")
    assert len(files) == 2
    assert read_served_log(tmp_path).column("request_id").to_pylist() == ["r0", "r1", "r2"]


def test_files_older_than_the_retention_are_deleted(tmp_path: Path) -> None:
    folder = tmp_path / "served"
    folder.mkdir()
    old = [folder / f"served-20200101-00000{i}-999999-00000{i}.jsonl" for i in range(3)]
    week = 7 * 86400
    for i, path in enumerate(old):
        path.write_bytes(b"")
        stamp = time.time() - week - 3600 * (i + 1)
        os.utime(path, (stamp, stamp))
    recent = folder / "served-20200101-000009-999998-000001.jsonl"
    recent.write_bytes(b"")
    writer = _write(tmp_path, [_response([1])], retention_seconds=week, max_files=100)
    files = log_files(folder)
    assert not any(p.exists() for p in old)
    assert recent in files and len(files) == 2
    assert writer.written == 1


def test_retention_settings_reach_the_server(tmp_path: Path, redis_url: str) -> None:
    from store import FeatureStore
    from store.server import create_app
    from tests.server.conftest import make_repo

    settings = {"log_rotate_seconds": 600, "log_retention_seconds": 86400, "log_max_files": 5}
    repo = make_repo(tmp_path / "repo", redis_url, settings)
    app = create_app(FeatureStore(repo))
    served = app.state.parity.served
    assert (served.rotate_seconds, served.retention_seconds, served.max_files) == (600, 86400, 5)


def test_sampling_hashes_the_encoded_key_so_7_and_7_0_agree() -> None:
    types = {"user_id": ValueType.parse("int64")}
    keys = range(2000)
    as_int = [key_sampled({"user_id": k}, 0.3, types) for k in keys]
    assert as_int == [key_sampled({"user_id": float(k)}, 0.3, types) for k in keys]
    assert 400 < sum(as_int) < 800
