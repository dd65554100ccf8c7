"""Bad requests get clean 4xx answers naming the problem; a dead Redis gets a quick 503."""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import Served, ServerThread, make_repo

GOOD = {"features": ["user_stats:txn_count"], "entities": {"user_id": [1]}}


def _detail(served: Served, body: Any, code: int, path: str = "/get-online-features") -> Any:
    resp = served.http.post(path, json=body)
    assert resp.status_code == code, resp.text
    return resp.json()["detail"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"features": "user_stats:txn_count", "entities": {"user_id": [1]}}, ["body", "features"]),
        ({"features": ["user_stats:txn_count"]}, ["body", "entities"]),
        ({"features": ["user_stats:txn_count"], "entities": {}}, ["body", "entities"]),
        ({**GOOD, "entities": {"user_id": [1, {"a": 1}]}}, ["body", "entities", "user_id", 1]),
        ({**GOOD, "entities": {"user_id": [[[1]]]}}, ["body", "entities", "user_id", 0]),
        ({**GOOD, "entities": {"user_id": [1, 2], "x": [1]}}, ["body", "entities"]),
        ({**GOOD, "entities": {"user_id": 1}}, ["body", "entities", "user_id"]),
        ({**GOOD, "full_feature_names": "yes"}, ["body", "full_feature_names"]),
        ({**GOOD, "unknown": 1}, ["body", "unknown"]),
        ({**GOOD, "feature_service": "scoring"}, ["body"]),
        ([1, 2], ["body"]),
        ({**GOOD, "features": []}, ["body", "features"]),
        ({**GOOD, "features": ["user_risk:risk", "user_risk:risk"]}, ["body", "features"]),
        ({"feature_service": "", "entities": {"user_id": [1]}}, ["body", "feature_service"]),
    ],
)
def test_malformed_request_is_422_with_the_field_path(
    served: Served, body: Any, loc: list[Any]
) -> None:
    detail = _detail(served, body, 422)
    assert detail[0]["loc"] == loc
    assert all(e["msg"] for e in detail)


def test_malformed_json_and_empty_body(served: Served) -> None:
    for raw in (b"{not json", b""):
        resp = served.http.post("/get-online-features", content=raw)
        assert resp.status_code == 422
        assert resp.json()["detail"][0]["loc"][0] == "body"


@pytest.mark.parametrize("value", ["seven", 1.5, 7.25, 2**63, None, [7], True])
def test_wrong_key_type_names_row_and_column(served: Served, value: Any) -> None:
    # Entity columns also carry request data (floats, lists, nulls), so a join key's type is
    # checked against its declaration: a float is refused, never truncated.
    detail = _detail(served, {**GOOD, "entities": {"user_id": [1, value]}}, 422)
    assert detail[0]["loc"] == ["body", "entities"]
    assert "'user_id'" in detail[0]["msg"] and "row 1" in detail[0]["msg"]
    if value is not None:
        assert "int64" in detail[0]["msg"]


def test_missing_join_key_is_422(served: Served) -> None:
    detail = _detail(served, {**GOOD, "entities": {"customer": [1]}}, 422)
    assert "user_id" in detail[0]["msg"]


@pytest.mark.parametrize(
    "body",
    [
        {"features": ["nope:txn_count"], "entities": {"user_id": [1]}},
        {"features": ["user_stats:nope"], "entities": {"user_id": [1]}},
        {"feature_service": "nope", "entities": {"user_id": [1]}},
    ],
)
def test_unknown_feature_view_or_service_is_404(served: Served, body: Any) -> None:
    assert "nope" in _detail(served, body, 404)


@pytest.mark.parametrize(
    "features",
    [["user_stats", "user_risk"], ["user_stats:amount", "user_risk:amount"], ["amount"]],
)
def test_an_ambiguous_short_name_is_422_naming_the_candidates(
    served: Served, features: list[str]
) -> None:
    # user_stats and user_risk both have 'amount': a malformed request, not a missing feature
    body = {"features": features, "entities": {"user_id": [1]}}
    [error] = _detail(served, body, 422)
    assert error["type"] == "AmbiguousFeatureError"
    assert "user_stats:amount" in error["msg"] and "user_risk:amount" in error["msg"]
    assert "qualify" in error["msg"]
    # full feature names settle two views' columns, not a bare name
    full = served.http.post("/get-online-features", json={**body, "full_feature_names": True})
    assert full.status_code == (422 if features == ["amount"] else 200), full.text


def test_a_bare_name_of_one_view_or_of_none_is_404(served: Served) -> None:
    hint = _detail(served, {"features": ["risk"], "entities": {"user_id": [1]}}, 404)
    assert "did you mean 'user_risk:risk'" in hint
    unknown = _detail(served, {"features": ["nope"], "entities": {"user_id": [1]}}, 404)
    assert "unknown feature view 'nope'" in unknown and "did you mean" not in unknown


def test_push_errors(served: Served) -> None:
    bad_view = {"view": "nope", "df": {"user_id": [1]}}
    assert "nope" in _detail(served, bad_view, 404, "/push")
    sideways = {"view": "user_risk", "df": {"user_id": [1]}, "to": "sideways"}
    assert _detail(served, sideways, 422, "/push")[0]["loc"] == ["body", "to"]
    uneven = {"view": "user_risk", "df": {"user_id": [1, 2], "risk": [0.5]}}
    assert _detail(served, uneven, 422, "/push")[0]["loc"] == ["body", "df"]
    wrong_type = {"view": "user_risk", "df": {"user_id": [1], "risk": ["high"]}}
    _detail(served, wrong_type, 422, "/push")


def test_api_keys(
    tmp_path: Path, redis_url: str, serve_repo: Callable[[Path], ServerThread]
) -> None:
    repo = make_repo(tmp_path / "repo", redis_url, {"api_keys": ["k-one", "k-two"]})
    server = serve_repo(repo)
    with server.client() as http:
        assert http.post("/get-online-features", json=GOOD).status_code == 401
        assert http.get("/features").status_code == 401
        wrong = http.post("/get-online-features", json=GOOD, headers={"X-API-Key": "k-three"})
        assert wrong.status_code == 403
        assert "k-three" not in wrong.text
        bearer = {"Authorization": "Bearer k-two"}
        assert http.post("/get-online-features", json=GOOD, headers=bearer).status_code == 200
        assert http.get("/features", headers={"X-API-Key": "k-one"}).status_code == 200
        assert http.get("/health").status_code == 200  # probes stay open
        assert http.get("/ready").status_code == 200
        assert http.get("/metrics").status_code == 200


def test_body_and_batch_limits(
    tmp_path: Path, redis_url: str, serve_repo: Callable[[Path], ServerThread]
) -> None:
    repo = make_repo(tmp_path / "repo", redis_url, {"max_entities": 3, "max_body_bytes": 2000})
    server = serve_repo(repo)
    with server.client() as http:
        too_many = {**GOOD, "entities": {"user_id": [1, 2, 3, 4]}}
        resp = http.post("/get-online-features", json=too_many)
        assert resp.status_code == 422
        assert resp.json()["detail"][0]["loc"] == ["body", "entities"]
        assert "max_entities=3" in resp.json()["detail"][0]["msg"]
        big = {**GOOD, "entities": {"user_id": list(range(1000))}}
        resp = http.post("/get-online-features", json=big)
        assert resp.status_code == 413
        assert "max_body_bytes=2000" in resp.json()["detail"]

        def chunks() -> Any:  # no Content-Length: counted as it arrives
            yield b'{"features": ["user_stats:txn_count"], "entities": {"user_id": ['
            for _ in range(200):
                yield b"1, " * 20
            yield b"1]}}"

        resp = http.post("/get-online-features", content=chunks())
        assert resp.status_code == 413
        assert http.post("/get-online-features", json=GOOD).status_code == 200


def test_redis_down_is_a_quick_503(
    tmp_path: Path,
    own_redis: tuple[str, subprocess.Popen[bytes]],
    serve_repo: Callable[[Path], ServerThread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, proc = own_redis
    repo = make_repo(tmp_path / "repo", url)
    server = serve_repo(repo)
    with server.client() as http:
        assert http.post("/get-online-features", json=GOOD).status_code == 200
        proc.kill()
        proc.wait(10)
        with caplog.at_level(logging.ERROR, logger="parity.server"):
            start = time.monotonic()
            resp = http.post("/get-online-features", json=GOOD)
            assert resp.status_code == 503, resp.text
            assert time.monotonic() - start < 10
        assert "online store" in resp.json()["detail"]
        ready = http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not ready"
        metrics = http.get("/metrics").text
        assert "parity_online_store_errors_total 1" in metrics
        assert http.get("/health").status_code == 200


def test_hung_redis_is_a_bounded_503_not_a_hang(
    tmp_path: Path,
    own_redis: tuple[str, subprocess.Popen[bytes]],
    serve_repo: Callable[[Path], ServerThread],
) -> None:
    url, proc = own_redis
    repo = make_repo(tmp_path / "repo", url)
    server = serve_repo(repo)
    with server.client() as http:
        assert http.post("/get-online-features", json=GOOD).status_code == 200
        proc.send_signal(signal.SIGSTOP)  # accepts connections, never answers
        try:
            start = time.monotonic()
            resp = http.post("/get-online-features", json=GOOD)
            elapsed = time.monotonic() - start
            assert resp.status_code == 503, resp.text
            assert elapsed < 8, f"took {elapsed:.1f}s"
            start = time.monotonic()
            assert http.get("/ready").status_code == 503
            assert time.monotonic() - start < 8
        finally:
            proc.send_signal(signal.SIGCONT)
        # the pool recovers once Redis answers again
        deadline = time.monotonic() + 10
        while http.post("/get-online-features", json=GOOD).status_code != 200:
            assert time.monotonic() < deadline, "no recovery after Redis came back"
            time.sleep(0.2)
