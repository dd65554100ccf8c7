"""The feature server over real HTTP, real Redis and a real repo: the same answers as the SDK."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any

from store.server.responses import EPOCH, FEAST_STATUS
from tests.server.conftest import FRESH, NOW, Served

ALL_STATS = [
    "user_stats:txn_count",
    "user_stats:amount",
    "user_stats:country",
    "user_stats:verified",
    "user_stats:last_login",
    "user_stats:scores",
]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _json_value(value: Any) -> Any:
    """What the SDK's value looks like after the server's JSON encoding."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def _post(served: Served, body: dict[str, Any]) -> dict[str, Any]:
    resp = served.http.post("/get-online-features", json=body)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_feast_request_returns_what_the_sdk_returns(served: Served) -> None:
    users = [1, 2, 3, 999]
    body = _post(served, {"features": ALL_STATS, "entities": {"user_id": users}})
    sdk = served.store.get_online_features(ALL_STATS, [{"user_id": u} for u in users])

    names = body["metadata"]["feature_names"]
    assert names == [
        "user_id",
        "txn_count",
        "amount",
        "country",
        "verified",
        "last_login",
        "scores",
    ]
    key_col = body["results"][0]
    assert key_col == {
        "values": users,
        "statuses": ["PRESENT"] * 4,
        "event_timestamps": [EPOCH] * 4,
    }
    for col, result in zip(sdk.columns, body["results"][1:], strict=True):
        assert result["values"] == [_json_value(v) for v in col.values], col.name
        expected = [
            "NULL_VALUE" if v is None and s == "PRESENT" else FEAST_STATUS[str(s)]
            for v, s in zip(col.values, col.statuses, strict=True)
        ]
        assert result["statuses"] == expected, col.name
        stamps = [None if t is None else _json_value(t) for t in col.event_timestamps]
        assert result["event_timestamps"] == stamps, col.name
    # the unknown user is NOT_FOUND, and a stored null is Feast's NULL_VALUE
    assert {r["statuses"][3] for r in body["results"][1:]} == {"NOT_FOUND"}
    assert body["results"][1]["statuses"][1] == "NULL_VALUE"
    assert body["results"][2]["values"][:3] == [12.5, "NaN", "Infinity"]
    assert body["results"][6]["values"][0] == [0.5, 1.5]
    assert body["results"][1]["event_timestamps"][0] == FRESH.isoformat().replace("+00:00", "Z")


def test_expired_value_is_withheld_not_present(served: Served) -> None:
    body = _post(served, {"features": ["user_risk:risk"], "entities": {"user_id": [1, 2]}})
    risk = body["results"][1]
    assert risk["values"] == [0.25, None]
    assert risk["statuses"] == ["PRESENT", "OUTSIDE_MAX_AGE"]
    native = _post(
        served,
        {"features": ["user_risk:risk"], "entities": {"user_id": [1, 2]}, "parity_statuses": True},
    )
    assert native["results"][1]["statuses"] == ["PRESENT", "EXPIRED"]


def test_feature_service_and_several_entities(served: Served) -> None:
    body = _post(
        served,
        {"feature_service": "scoring", "entities": {"user_id": [1, 3], "merchant_id": ["m2", "x"]}},
    )
    assert body["metadata"]["feature_names"] == [
        "user_id",
        "merchant_id",
        "txn_count",
        "risk",
        "category",
    ]
    assert body["results"][1]["values"] == ["m2", "x"]
    assert body["results"][4]["values"] == ["games", None]
    assert body["results"][4]["statuses"] == ["PRESENT", "NOT_FOUND"]


def test_full_feature_names_resolve_a_shared_name(served: Served) -> None:
    body = _post(
        served,
        {
            "features": ["user_stats:amount", "user_risk:amount"],
            "entities": {"user_id": [1]},
            "full_feature_names": True,
        },
    )
    assert body["metadata"]["feature_names"] == [
        "user_id",
        "user_stats__amount",
        "user_risk__amount",
    ]
    assert [r["values"] for r in body["results"][1:]] == [[12.5], [100.0]]


def test_form_encoded_feast_curl_request_is_read_as_json(served: Served) -> None:
    """``curl -d`` (Feast's documented example) sends form content type with a JSON body."""
    resp = served.http.post(
        "/get-online-features",
        content=b'{"features": ["user_stats:txn_count"], "entities": {"user_id": [1]}}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["results"][1]["values"] == [5]


def test_push_then_read(served: Served) -> None:
    event = NOW - timedelta(minutes=5)
    resp = served.http.post(
        "/push",
        json={
            "push_source_name": "user_stats",
            "df": {
                "user_id": [40],
                "event_timestamp": [event.isoformat()],
                "txn_count": [9],
                "amount": [1.25],
                "country": ["PT"],
                "verified": [True],
                "last_login": [None],
                "scores": [[2.5]],
            },
            "to": "online_and_offline",
        },
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["rows"] == 1
    features = ["user_stats:txn_count", "user_stats:country", "user_stats:scores"]
    body = _post(served, {"features": features, "entities": {"user_id": [40]}})
    assert [r["values"] for r in body["results"]] == [[40], [9], ["PT"], [[2.5]]]
    assert body["results"][1]["statuses"] == ["PRESENT"]
    assert body["results"][1]["event_timestamps"] == [event.isoformat().replace("+00:00", "Z")]


def test_health_ready_features(served: Served) -> None:
    assert served.http.get("/health").json() == {"status": "ok"}
    ready = served.http.get("/ready")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    listing = served.http.get("/features").json()
    views = {v["view"]: v for v in listing["views"]}
    assert set(views) == {"user_stats", "user_risk", "merchant_stats"}
    stats = views["user_stats"]
    assert stats["owner"] == "risk@example.com"
    assert stats["ttl_seconds"] == 2 * 86400
    assert stats["features"]["scores"] == "list<float64>"
    assert stats["applied_version"] == stats["version"]
    assert listing["services"][0]["name"] == "scoring"


_SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
    r"(-?[0-9.e+-]+|\+Inf|NaN)$"
)


def test_metrics_is_valid_prometheus_text(served: Served) -> None:
    _post(served, {"features": ["user_risk:risk"], "entities": {"user_id": [1, 2, 404]}})
    resp = served.http.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, float] = {}
    for line in resp.text.splitlines():
        if line.startswith("# "):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ .+$", line), line
            continue
        assert _SAMPLE.match(line), f"not a Prometheus sample: {line!r}"
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    ok = 'parity_requests_total{method="POST",route="/get-online-features",code="200"}'
    assert samples[ok] >= 1
    assert samples['parity_feature_values_total{view="user_risk",status="EXPIRED"}'] >= 1
    assert samples['parity_feature_values_total{view="user_risk",status="MISSING"}'] >= 1
    count = samples['parity_request_duration_seconds_count{route="/get-online-features"}']
    assert (
        samples['parity_request_duration_seconds_bucket{route="/get-online-features",le="+Inf"}']
        == count
    )
    assert "parity_online_store_errors_total" in samples


def test_request_id_is_echoed(served: Served) -> None:
    resp = served.http.get("/health", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["x-request-id"] == "abc-123"
    fresh = served.http.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
