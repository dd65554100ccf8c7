"""POST /push is idempotent with a push id (body ``push_id`` or ``Idempotency-Key`` header)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .conftest import NOW, Served


def _body(user: int, **extra: Any) -> dict[str, Any]:
    return {
        "push_source_name": "user_stats",
        "df": {
            "user_id": [user],
            "event_timestamp": [(NOW - timedelta(minutes=1)).isoformat()],
            "txn_count": [3],
            "amount": [1.5],
            "country": ["FR"],
            "verified": [True],
            "last_login": [None],
            "scores": [[1.0]],
        },
        **extra,
    }


def _files(served: Served) -> int:
    return len(list((served.store.data_dir / "push" / "user_stats").glob("*.parquet")))


def test_a_retried_push_says_duplicate_and_appends_nothing(served: Served) -> None:
    first = served.http.post("/push", json=_body(501, push_id="req-501"))
    assert first.status_code == 200, first.text
    assert first.json()["detail"]["status"] == "appended"
    assert first.json()["detail"]["push_id"] == "req-501"
    n = _files(served)
    again = served.http.post("/push", json=_body(501, push_id="req-501"))
    assert again.status_code == 200, again.text
    assert again.json()["detail"]["status"] == "duplicate"
    assert _files(served) == n


def test_the_idempotency_key_header_works_alike(served: Served) -> None:
    headers = {"Idempotency-Key": "hdr-502"}
    assert served.http.post("/push", json=_body(502), headers=headers).json()["detail"][
        "status"
    ] == ("appended")
    second = served.http.post("/push", json=_body(502), headers=headers)
    assert second.json()["detail"]["status"] == "duplicate"
    clash = served.http.post("/push", json=_body(502, push_id="other"), headers=headers)
    assert clash.status_code == 422


def test_other_rows_under_a_used_id_are_422(served: Served) -> None:
    assert served.http.post("/push", json=_body(503, push_id="req-503")).status_code == 200
    resp = served.http.post("/push", json=_body(504, push_id="req-503"))
    assert resp.status_code == 422 and "already used for other rows" in resp.text


def test_a_push_without_an_id_is_given_one(served: Served) -> None:
    detail = served.http.post("/push", json=_body(505)).json()["detail"]
    assert detail["status"] == "appended" and len(detail["push_id"]) == 32
