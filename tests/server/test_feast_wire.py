"""Feast's wire details without Feast installed: the fields its client sends, its error body,
``/write-to-online-store``. (tests/feast_compat runs Feast's real client for the same.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.server.conftest import NOW, Served, ServerThread, make_repo

READ = {"features": ["user_stats:txn_count"], "entities": {"user_id": [1]}}


def test_feasts_version_metadata_field(served: Served) -> None:
    plain = served.http.post(
        "/get-online-features", json={**READ, "include_feature_view_version_metadata": False}
    )
    assert plain.status_code == 200 and "feature_view_metadata" not in plain.json()["metadata"]
    body = {
        "features": ["user_stats:txn_count", "user_risk:risk"],
        "entities": {"user_id": [1]},
        "include_feature_view_version_metadata": True,
    }
    meta = served.http.post("/get-online-features", json=body).json()["metadata"]
    versions = {v.name: ver for v, ver in served.store.applied_views()}
    assert meta["feature_view_metadata"] == [
        {"name": "user_stats", "version": 1, "parity_version": versions["user_stats"]},
        {"name": "user_risk", "version": 1, "parity_version": versions["user_risk"]},
    ]


def test_unknown_fields_stay_422_and_an_empty_feature_list_beside_a_service_is_feasts(
    served: Served,
) -> None:
    extra = served.http.post("/get-online-features", json={**READ, "top_k": 3})
    assert extra.status_code == 422 and extra.json()["detail"][0]["loc"] == ["body", "top_k"]
    body = {"features": [], "feature_service": "scoring", "entities": {"user_id": [1]}}
    body["entities"]["merchant_id"] = ["m1"]
    assert served.http.post("/get-online-features", json=body).status_code == 200


def _feast_error(resp: Any) -> dict[str, Any]:
    text = resp.json()
    assert isinstance(text, str), text  # Feast sends its error document as a JSON string
    doc: dict[str, Any] = json.loads(text)
    return doc


def test_errors_in_feasts_dialect_carry_its_class_and_our_message(served: Served) -> None:
    body = {"features": ["nope:x"], "entities": {"user_id": [1]}}
    ours = served.http.post("/get-online-features", json=body)
    assert ours.status_code == 404 and "unknown feature view 'nope'" in ours.json()["detail"]
    feast = served.http.post(
        "/get-online-features", json={**body, "include_feature_view_version_metadata": False}
    )
    assert feast.status_code == 404
    doc = _feast_error(feast)
    assert (doc["module"], doc["class"]) == ("feast.errors", "FeatureViewNotFoundException")
    assert doc["message"] == ours.json()["detail"] == doc["detail"]
    service = {
        "feature_service": "nope",
        "entities": {"user_id": [1]},
        "include_feature_view_version_metadata": False,
    }
    doc = _feast_error(served.http.post("/get-online-features", json=service))
    assert doc["class"] == "FeatureServiceNotFoundException"
    write = {"feature_view_name": "nope", "df": {"user_id": [1]}, "allow_registry_cache": False}
    resp = served.http.post("/write-to-online-store", json=write)
    assert resp.status_code == 404
    assert _feast_error(resp)["class"] == "FeatureViewNotFoundException"
    push = {"push_source_name": "nope", "df": {"user_id": [1]}}
    resp = served.http.post("/push", json=push)
    assert resp.status_code == 422 and _feast_error(resp)["class"] == "PushSourceNotFoundException"


def test_write_to_online_store_with_feasts_body(served: Served) -> None:
    event = (NOW - timedelta(minutes=7)).replace(tzinfo=None)  # naive, as Feast sends it
    write = {
        "feature_view_name": "user_risk",
        "df": {
            "user_id": [77],
            "risk": [0.5],
            "amount": [3],  # an int for a float64 feature converts exactly
            "event_timestamp": [event.isoformat()],
            "created": [None],
        },
        "allow_registry_cache": False,
    }
    resp = served.http.post("/write-to-online-store", json=write)
    assert resp.status_code == 200, resp.text
    assert resp.json()["detail"]["to"] == "online"
    body = {"features": ["user_risk:risk", "user_risk:amount"], "entities": {"user_id": [77]}}
    got = served.http.post("/get-online-features", json=body).json()["results"]
    assert [r["values"] for r in got] == [[77], [0.5], [3.0]]
    assert got[1]["event_timestamps"] == [event.isoformat() + "Z"]
    bad = {**write, "df": {**write["df"], "risk": ["high"]}}
    assert served.http.post("/write-to-online-store", json=bad).status_code == 422


def test_feasts_own_push_test_bodies(served: Served) -> None:
    # The shapes of feast-dev/feast sdk/python/tests/unit/test_feature_server.py: timestamps
    # as str(datetime) (a space, an offset), the source's created column given, `to` by name.
    now = datetime.now(UTC) - timedelta(seconds=1)
    body = {
        "push_source_name": "user_stats",
        "df": {
            "user_id": [123],
            "event_timestamp": [str(now)],
            "created_timestamp": [str(now)],
            "txn_count": [4],
            "amount": [55.1],
            "country": ["NL"],
            "verified": [True],
            "last_login": [None],
            "scores": [[]],
        },
        "to": "online",
    }
    assert served.http.post("/push", json=body).status_code == 200
    read = {"features": ["user_stats:amount"], "entities": {"user_id": [123]}}
    got = served.http.post("/get-online-features", json=read).json()
    assert got["metadata"]["feature_names"] == ["user_id", "amount"]
    assert got["results"][1]["values"] == [55.1] and got["results"][1]["statuses"] == ["PRESENT"]
    missing = {
        "push_source_name": "push_source_does_not_exist",
        "df": {"any_data": [1], "event_timestamp": [str(now)]},
    }
    resp = served.http.post("/push", json=missing)
    assert resp.status_code == 422  # feast serve: PushSourceNotFoundException, 422
    assert "push_source_does_not_exist" in _feast_error(resp)["message"]


def test_feasts_remote_materialize_endpoints(served: Served) -> None:
    now = datetime.now(UTC)
    body = {
        "start_ts": (now - timedelta(days=3)).isoformat(),
        "end_ts": now.replace(tzinfo=None).isoformat(),  # naive = UTC
        "feature_views": ["merchant_stats"],
        "disable_event_timestamp": False,
        "full_feature_names": False,
    }
    done = served.http.post("/materialize", json=body)
    assert done.status_code == 200, done.text
    [view] = done.json()["views"]
    assert view["view"] == "merchant_stats" and view["written"] == 2
    incremental = {"end_ts": now.isoformat(), "feature_views": ["merchant_stats"]}
    assert served.http.post("/materialize-incremental", json=incremental).status_code == 200
    everything = {"disable_event_timestamp": True, "feature_views": ["merchant_stats"]}
    assert served.http.post("/materialize", json=everything).status_code == 200
    for bad, loc in [
        ({**body, "end_ts": "yesterday"}, ["body", "end_ts"]),
        ({**body, "start_ts": body["end_ts"]}, ["body", "start_ts"]),
        ({**body, "version": "v2"}, ["body", "version"]),
        ({**body, "start_ts": None}, ["body", "start_ts"]),
    ]:
        resp = served.http.post("/materialize", json=bad)
        assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == loc, resp.text
    queued = served.http.post("/materialize", json=body, params={"async": "true"})
    assert queued.status_code == 422 and queued.json()["detail"][0]["loc"] == ["query", "async"]
    unknown = served.http.post("/materialize", json={**body, "feature_views": ["nope"]})
    assert unknown.status_code == 404
    assert _feast_error(unknown)["class"] == "FeatureViewNotFoundException"


def test_features_lists_push_sources(
    tmp_path: Path, redis_url: str, serve_repo: Callable[[Path], ServerThread]
) -> None:
    extra = {
        "pushes.py": "from store import PushSource\n"
        "risk_push = PushSource('risk_push', views=['user_risk'])\n"
    }
    server = serve_repo(make_repo(tmp_path / "repo", redis_url, modules=extra))
    with server.client() as http:
        listing = http.get("/features").json()
    assert listing["push_sources"] == [
        {"name": "risk_push", "views": ["user_risk"], "description": ""}
    ]


def test_write_to_online_store_takes_feasts_nan_literal_and_refuses_what_push_refuses(
    served: Served,
) -> None:
    """Feast's client posts with requests' json.dumps: a NaN feature is the literal NaN. An
    object, a nested list or 1e400 (which would parse as infinity) is refused, as /push does."""
    event = (NOW - timedelta(minutes=6)).replace(tzinfo=None).isoformat()

    def body(risk: str) -> bytes:
        df = f'"user_id": [78], "risk": [{risk}], "amount": [1.0], "event_timestamp": ["{event}"]'
        return ('{"feature_view_name": "user_risk", "df": {' + df + "}}").encode()

    headers = {"content-type": "application/json"}
    resp = served.http.post("/write-to-online-store", content=body("NaN"), headers=headers)
    assert resp.status_code == 200, resp.text
    got = served.http.post(
        "/get-online-features", json={"features": ["user_risk:risk"], "entities": {"user_id": [78]}}
    ).json()["results"]
    assert got[1]["values"] == ["NaN"]
    for bad in ("1e400", '{"a": 1}', "[[1.0]]"):
        resp = served.http.post("/write-to-online-store", content=body(bad), headers=headers)
        assert resp.status_code == 422, (bad, resp.text)
