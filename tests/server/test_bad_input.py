"""One conversion of user values for every entry point: SDK push, HTTP push, SDK and HTTP read.

The policy (SPEC "Bad input", store/convert.py): a bool is never an int; a number converts to
another numeric type only when exact; a timestamp is never a bare number; out-of-range integers
and NaN/inf where the type cannot hold them are refused with the column and row named.
"""

from __future__ import annotations

import itertools
import math
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import EntityFrameError, PushError

from .conftest import NOW, Served

_users = itertools.count(10_000)


def _row(user: Any, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "user_id": user,
        "event_timestamp": (NOW - timedelta(minutes=1)).isoformat(),
        "txn_count": None,
        "amount": None,
        "country": None,
        "verified": None,
        "last_login": None,
        "scores": None,
    }
    return {**row, **values}


def _http_push(served: Served, row: dict[str, Any]) -> Any:
    body = {"push_source_name": "user_stats", "df": {k: [v] for k, v in row.items()}}
    return served.http.post("/push", json=body)


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("user_id", True, "a boolean is not an integer"),
        ("user_id", "7", "must be int64"),
        ("user_id", 7.5, "not a whole number"),
        ("txn_count", 2**63, "out of the int64 range"),
        ("txn_count", -(2**63) - 1, "out of the int64 range"),
        ("event_timestamp", 1_796_000_000, "a number is refused"),
        ("amount", 2**53 + 1, "not exactly representable"),
        ("verified", 1, "must be bool"),
        ("country", 5, "must be string"),
    ],
)
def test_a_push_value_that_does_not_fit_is_422_naming_column_and_row(
    served: Served, column: str, value: Any, words: str
) -> None:
    resp = _http_push(served, _row(next(_users), **{column: value}))
    assert resp.status_code == 422, resp.text
    msg = resp.json()["detail"][0]["msg"]
    assert f"column {column!r}" in msg and "row 0" in msg and words in msg, msg
    assert resp.headers.get("connection") != "close"  # the keep-alive connection survives
    assert served.http.get("/health").status_code == 200
    with pytest.raises(PushError, match=words):
        served.store.push("user_stats", [_row(next(_users), **{column: value})])


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_json_floats_are_refused_by_push_as_by_read(served: Served, literal: bytes) -> None:
    body = (
        b'{"push_source_name": "user_stats", "df": {"user_id": [1], "amount": [' + literal + b"]}}"
    )
    resp = served.http.post("/push", content=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["loc"][:3] == ["body", "df", "amount"]


def test_an_exact_float_is_taken_for_an_int(served: Served) -> None:
    user = next(_users)
    resp = _http_push(served, _row(float(user), txn_count=7.0, amount=3))
    assert resp.status_code == 200, resp.text
    got = served.store.get_online_features(
        ["user_stats:txn_count", "user_stats:amount"], [{"user_id": user}]
    )
    assert [c.values[0] for c in got.columns] == [7, 3.0]
    assert type(got.columns[0].values[0]) is int


# JSON values, and what the SDK gets for them (non-finite floats travel as protobuf strings).
_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**53), max_value=2**53).map(float),
    st.sampled_from(["7", "NaN", "Infinity", "x", "2026-11-21T10:00:00Z", "2026-11-21"]),
)


def _to_json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b and type(a) is type(b))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    column=st.sampled_from(["txn_count", "amount", "country", "verified", "last_login"]),
    value=_json_scalars,
)
def test_sdk_push_and_http_push_agree_on_every_value(
    served: Served, column: str, value: Any
) -> None:
    sdk_user, http_user = next(_users), next(_users)
    try:
        served.store.push("user_stats", [_row(sdk_user, **{column: value})])
        sdk_ok = True
    except PushError:
        sdk_ok = False
    resp = _http_push(served, _row(http_user, **{column: _to_json(value)}))
    assert resp.status_code in (200, 422), resp.text
    assert (resp.status_code == 200) == sdk_ok, (value, resp.text)
    if sdk_ok:
        got = served.store.get_online_features(
            [f"user_stats:{column}"], [{"user_id": sdk_user}, {"user_id": http_user}]
        )
        sdk_value, http_value = got.columns[0].values
        assert _same(sdk_value, http_value), (sdk_value, http_value)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=_json_scalars)
def test_a_join_key_is_accepted_alike_by_push_sdk_read_and_http_read(
    served: Served, value: Any
) -> None:
    try:
        served.store.get_online_features(["user_stats:amount"], [{"user_id": value}])
        sdk_read = True
    except EntityFrameError:
        sdk_read = False
    resp = served.http.post(
        "/get-online-features",
        json={"features": ["user_stats:amount"], "entities": {"user_id": [_to_json(value)]}},
    )
    assert resp.status_code in (200, 422), resp.text
    assert (resp.status_code == 200) == sdk_read, (value, resp.text)
    push = _http_push(served, _row(_to_json(value)))
    assert push.status_code in (200, 422), push.text
    assert (push.status_code == 200) == sdk_read, (value, push.text)
    if sdk_read:
        # The key pushed is the key read: the row just pushed is found.
        again = served.store.get_online_features(["user_stats:amount"], [{"user_id": value}])
        assert str(again.columns[0].statuses[0]) == "PRESENT"
