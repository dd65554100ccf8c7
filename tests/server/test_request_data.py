"""Request data (the inputs of on-demand views) of every declared type, over HTTP and the SDK.

The served repo gets an on-demand view ``checkout`` over ``user_stats`` (user 1: amount 12.5,
last login a day before FRESH; user 3: amount +inf, last login at FRESH) with one request field
of each type; its function echoes or combines them, so a value converted wrongly shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from store import FeatureStore
from store.errors import EntityFrameError, RequestDataError
from tests.server.conftest import FRESH, Served, ServerThread, make_repo

CHECKOUT = """
import pandas as pd
from store import Field, OnDemandFeatureView


def checkout_features(df: pd.DataFrame) -> pd.DataFrame:
    basket = [None if xs is None else float(sum(xs)) for xs in df["basket"]]
    label = [
        c + ("/gift" if g is True else "") if isinstance(c, str) else None
        for c, g in zip(df["coupon"], df["gift"])
    ]
    return pd.DataFrame(
        {
            "price_vs_amount": df["price"] / df["amount"],
            "total": df["price"] * df["quantity"],
            "weight_x2": df["weight"] * 2,
            "hours_since_login": (df["placed_at"] - df["last_login"]) / pd.Timedelta(hours=1),
            "placed_at_utc": df["placed_at"],
            "basket_total": basket,
            "label": label,
        }
    )


checkout = OnDemandFeatureView(
    name="checkout",
    sources=["user_stats:amount", "user_stats:last_login"],
    request_fields=[
        Field("price", "float64"),
        Field("weight", "float32"),
        Field("quantity", "int64"),
        Field("coupon", "string"),
        Field("gift", "bool"),
        Field("placed_at", "timestamp"),
        Field("basket", "list<float64>"),
    ],
    fields=[
        Field("price_vs_amount", "float64"),
        Field("total", "float64"),
        Field("weight_x2", "float32"),
        Field("hours_since_login", "float64"),
        Field("placed_at_utc", "timestamp"),
        Field("basket_total", "float64"),
        Field("label", "string"),
    ],
    udf=checkout_features,
)
"""

PLUS2 = timezone(timedelta(hours=2))


def rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# Row 0 is user 1, row 1 user 3; the price of row 1 is an integer for a float field, its
# placed_at an ISO string in +02:00 (converted, not reinterpreted), its weight null.
REQUEST: dict[str, list[Any]] = {
    "user_id": [1, 3],
    "price": [25.0, 10],
    "weight": [1.5, None],
    "quantity": [2, 3],
    "coupon": ["SPRING", None],
    "gift": [True, False],
    "placed_at": [
        rfc3339(FRESH + timedelta(minutes=30)),
        (FRESH + timedelta(hours=1)).astimezone(PLUS2).isoformat(),
    ],
    "basket": [[1.5, 2.5, None], []],
}
EXPECTED: dict[str, list[Any]] = {
    "price_vs_amount": [2.0, 0.0],  # 25 / 12.5, 10 / inf
    "total": [50.0, 30.0],
    "weight_x2": [3.0, None],
    "hours_since_login": [24.5, 1.0],
    "placed_at_utc": [
        rfc3339(FRESH + timedelta(minutes=30)),
        rfc3339(FRESH + timedelta(hours=1)),
    ],
    "basket_total": [None, 0.0],  # a null item makes the sum NaN, returned as null
    "label": ["SPRING/gift", None],
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Served]:
    repo = make_repo(tmp_path_factory.mktemp("shop"), redis_url, modules={"shop.py": CHECKOUT})
    with ServerThread(repo) as server, server.client() as http:
        yield Served(repo, server, http)


def _read(shop: Served, entities: dict[str, list[Any]], code: int = 200) -> Any:
    resp = shop.http.post(
        "/get-online-features", json={"features": ["checkout"], "entities": entities}
    )
    assert resp.status_code == code, resp.text
    return resp.json()


def _columns(body: dict[str, Any]) -> dict[str, list[Any]]:
    names = body["metadata"]["feature_names"]
    return {name: r["values"] for name, r in zip(names, body["results"], strict=True)}


def test_every_request_field_type_reaches_the_on_demand_view(shop: Served) -> None:
    body = _read(shop, REQUEST)
    got = _columns(body)
    for name, want in EXPECTED.items():
        assert got[name] == want, name
    # the request's columns come back as they were sent
    assert got["price"] == [25.0, 10] and got["basket"] == [[1.5, 2.5, None], []]


def test_non_finite_floats_are_sent_as_protobuf_json_strings(shop: Served) -> None:
    entities = {**REQUEST, "price": ["Infinity", "-Infinity"], "weight": ["NaN", 2.5]}
    got = _columns(_read(shop, entities))
    assert got["total"] == ["Infinity", "-Infinity"]
    # a function's NaN comes back null (-inf / +inf; NaN * 2)
    assert got["price_vs_amount"] == ["Infinity", None]
    assert got["weight_x2"] == [None, 5.0]


def test_the_sdk_accepts_the_same_values(shop: Served) -> None:
    rows = [
        {
            "user_id": 1,
            "price": np.float64(25.0),
            "weight": np.float32(1.5),
            "quantity": np.int64(2),
            "coupon": "SPRING",
            "gift": np.bool_(True),
            "placed_at": REQUEST["placed_at"][0],  # the server's ISO string
            "basket": (1.5, 2.5, None),
        },
        {
            "user_id": 3,
            "price": 10,
            "weight": None,
            "quantity": 3,
            "coupon": None,
            "gift": False,
            "placed_at": (FRESH + timedelta(hours=1)).astimezone(PLUS2),  # an aware datetime
            "basket": np.array([], dtype=np.float64),
        },
    ]
    with FeatureStore(shop.repo) as fs:
        resp = fs.get_online_features(["checkout"], rows)
    got = {c.name: c.values for c in resp.columns}
    for name, want in EXPECTED.items():
        if name == "placed_at_utc":
            want = [FRESH + timedelta(minutes=30), FRESH + timedelta(hours=1)]
        assert got[name] == want, name
    with FeatureStore(shop.repo) as fs, pytest.raises(RequestDataError, match="'quantity'"):
        fs.get_online_features(["checkout"], [{**rows[0], "quantity": 2.5}])


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("price", "abc", "float64"),
        ("price", True, "float64"),
        ("weight", 1e39, "float32"),
        ("quantity", 1.5, "int64"),
        ("quantity", 2**63, "int64"),
        ("quantity", "2", "int64"),
        ("coupon", 5, "string"),
        ("gift", "yes", "bool"),
        ("placed_at", 1_700_000_000, "timestamp"),
        ("placed_at", "yesterday", "timestamp"),
        ("basket", ["a"], "list<float64>"),
        ("basket", 1.5, "list<float64>"),
    ],
)
def test_a_request_value_of_the_wrong_type_is_422_naming_field_type_and_row(
    shop: Served, field: str, value: Any, expected: str
) -> None:
    entities = {**REQUEST, field: [REQUEST[field][0], value]}
    [error] = _read(shop, entities, 422)["detail"]
    assert error["loc"] == ["body", "entities", field, 1]
    assert error["type"] == "RequestDataError"
    msg = error["msg"]
    assert f"'{field}'" in msg and expected in msg and "row 1" in msg and "checkout" in msg


def test_a_missing_request_field_is_422_naming_it(shop: Served) -> None:
    entities = {k: v for k, v in REQUEST.items() if k != "placed_at"}
    [error] = _read(shop, entities, 422)["detail"]
    assert error["loc"] == ["body", "entities", "placed_at"]
    assert "'placed_at'" in error["msg"] and "timestamp" in error["msg"]


@pytest.mark.parametrize("key", [1.5, True, "1", 2**63, None, [1]])
def test_a_join_key_stays_strictly_typed(shop: Served, key: Any) -> None:
    # request data may be lists and nulls; a join key may not, nor 1.5 (never truncated to 1)
    entities = {**REQUEST, "user_id": [1, key]}
    [error] = _read(shop, entities, 422)["detail"]
    assert error["loc"] == ["body", "entities"]
    assert "row 1" in error["msg"] and "'user_id'" in error["msg"]


def test_a_value_that_is_no_json_scalar_is_422_at_its_path(shop: Served) -> None:
    for value in ({"a": 1}, [[1.5]], [{"a": 1}]):
        entities = {**REQUEST, "basket": [[], value]}
        [error] = _read(shop, entities, 422)["detail"]
        assert error["loc"] == ["body", "entities", "basket", 1]
        assert "JSON number, string, boolean or null" in error["msg"]
    raw = b'{"features": ["checkout"], "entities": {"user_id": [1], "price": [NaN]}}'
    resp = shop.http.post("/get-online-features", content=raw)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["loc"] == ["body", "entities", "price", 0]


def test_request_rows_must_agree_in_the_sdk(shop: Served) -> None:
    row = {k: v[0] for k, v in REQUEST.items()}
    partial = {k: v for k, v in row.items() if k != "coupon"}
    with FeatureStore(shop.repo) as fs, pytest.raises(EntityFrameError, match="entity row 1"):
        fs.get_online_features(["checkout"], [row, partial])
