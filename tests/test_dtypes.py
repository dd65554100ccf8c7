"""Every declared type keeps its type in pandas, nulls included, offline and online alike.

An ``int64`` feature with one missing value used to come back as ``float64`` from
``TrainingFrame.to_pandas()`` (and from ``OnlineResponse.to_pandas()``): a 7 became 7.0 and a
large id lost digits. Integers are pandas' nullable ``Int32``/``Int64``, booleans ``boolean``,
lists an Arrow-backed dtype that keeps the element type.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from store import FeatureStore
from store.types import SCALARS, ValueType, to_pandas
from tests.facade_helpers import store_for

TYPES = {
    "f_i32": "int32",
    "f_i64": "int64",
    "f_f32": "float32",
    "f_f64": "float64",
    "f_bool": "bool",
    "f_str": "string",
    "f_ts": "timestamp",
    "f_list": "list<int64>",
}
EXPECTED_DTYPE = {
    "f_i32": "Int32",
    "f_i64": "Int64",
    "f_f32": "float32",
    "f_f64": "float64",
    "f_bool": "boolean",
    "f_str": "str",
    "f_ts": "datetime64[us, UTC]",
    "f_list": "list<item: int64>[pyarrow]",
}
BIG = 2**62 + 1  # not representable as float64: a float conversion shows as a changed value
WHEN = datetime(2026, 11, 20, 12, tzinfo=UTC)
# user 1 has every value, user 2 a row of nulls, user 3 no row at all.
VALUES: dict[str, list[Any]] = {
    "f_i32": [-7, None],
    "f_i64": [BIG, None],
    "f_f32": [1.5, None],
    "f_f64": [2.25, None],
    "f_bool": [True, None],
    "f_str": ["x", None],
    "f_ts": [WHEN, None],
    "f_list": [[BIG, None, 3], None],
}

MODULE = """
from datetime import timedelta
from store import Entity, FeatureView, Field, ParquetSource

user = Entity("user", join_keys={"user_id": "int64"})
typed = FeatureView(
    name="typed",
    entities=[user],
    source=ParquetSource("data/typed"),
    fields=[%s],
    ttl=timedelta(days=3650),
)
"""


@pytest.fixture(scope="module")
def typed(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[FeatureStore]:
    root = tmp_path_factory.mktemp("typed")
    fields = ", ".join(f"Field({n!r}, {t!r})" for n, t in TYPES.items())
    store = store_for(root, MODULE % fields, redis_url, project="typed")
    now = datetime.now(UTC).replace(microsecond=0)
    columns = {
        "user_id": pa.array([1, 2], pa.int64()),
        "event_timestamp": pa.array([now - timedelta(hours=1)] * 2, pa.timestamp("us", tz="UTC")),
    }
    columns |= {n: pa.array(VALUES[n], ValueType.parse(t).arrow) for n, t in TYPES.items()}
    (root / "data" / "typed").mkdir(parents=True)
    pq.write_table(pa.table(columns), root / "data" / "typed" / "part-0.parquet")
    store.apply()
    store.materialize(now)
    yield store
    store.close()


def _check(df: pd.DataFrame, name_of: dict[str, str]) -> None:
    for short, column in name_of.items():
        got = df[column]
        assert str(got.dtype) == EXPECTED_DTYPE[short], column
        want = VALUES[short] + [None]
        for value, expected in zip(got.tolist(), want, strict=True):
            if expected is None:
                assert value is None or pd.isna(value), column
            elif short == "f_ts":
                assert pd.Timestamp(value) == pd.Timestamp(expected), column
            else:
                assert value == expected, column
                assert type(value) is type(expected) or short in {"f_f32", "f_f64"}, column


def test_training_frame_keeps_every_declared_type(typed: FeatureStore) -> None:
    at = datetime.now(UTC) + timedelta(minutes=1)
    entities = pd.DataFrame({"user_id": [1, 2, 3], "event_timestamp": [at] * 3})
    frame = typed.get_historical_features(entities, ["typed"])
    df = frame.to_pandas()
    _check(df, {short: short for short in TYPES})
    assert str(df["user_id"].dtype) == "int64"  # the entity frame's own column, as given


def test_training_frame_from_arrow_entities_keeps_every_declared_type(typed: FeatureStore) -> None:
    at = datetime.now(UTC) + timedelta(minutes=1)
    entities = pa.table(
        {"user_id": [1, 2, 3], "event_timestamp": pa.array([at] * 3, pa.timestamp("us", "UTC"))}
    )
    df = typed.get_historical_features(entities, ["typed"], full_feature_names=True).to_pandas()
    _check(df, {short: f"typed__{short}" for short in TYPES})


def test_online_response_keeps_every_declared_type(typed: FeatureStore) -> None:
    rows = [{"user_id": 1}, {"user_id": 2}, {"user_id": 3}]
    df = typed.get_online_features(["typed"], rows).to_pandas(include_metadata=True)
    _check(df, {short: short for short in TYPES})
    assert df["f_i64__status"].tolist() == ["PRESENT", "PRESENT", "MISSING"]


def test_online_and_offline_frames_have_the_same_dtypes(typed: FeatureStore) -> None:
    at = datetime.now(UTC) + timedelta(minutes=1)
    entities = pd.DataFrame({"user_id": [1, 2, 3], "event_timestamp": [at] * 3})
    offline = typed.get_historical_features(entities, ["typed"]).to_pandas()
    online = typed.get_online_features(["typed"], entities[["user_id"]].to_dict("records"))
    frame = online.to_pandas()
    for name in TYPES:
        assert frame[name].dtype == offline[name].dtype, name
        pd.testing.assert_series_equal(frame[name], offline[name], check_names=False)


def _values(arrow: pa.DataType) -> st.SearchStrategy[Any]:
    if pa.types.is_list(arrow):
        return st.lists(st.none() | _values(arrow.value_type), max_size=3)
    scalar = {
        pa.int32(): st.integers(-(2**31), 2**31 - 1),
        pa.int64(): st.integers(-(2**63), 2**63 - 1),
        pa.float32(): st.floats(width=32, allow_nan=False),
        pa.float64(): st.floats(allow_nan=False),
        pa.bool_(): st.booleans(),
        pa.string(): st.text(max_size=5),
        SCALARS["timestamp"][0]: st.datetimes(
            min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        ),
    }
    return scalar[arrow]


@st.composite
def typed_columns(draw: st.DrawFn) -> tuple[ValueType, list[Any]]:
    scalar = draw(st.sampled_from(sorted(SCALARS)))
    vtype = ValueType(scalar, draw(st.booleans()))
    values = draw(st.lists(st.none() | _values(vtype.arrow), min_size=1, max_size=6))
    return vtype, values


@given(typed_columns())
def test_to_pandas_keeps_type_and_nulls(column: tuple[ValueType, list[Any]]) -> None:
    vtype, values = column
    array = pa.array(values, vtype.arrow)
    series = to_pandas(array)
    table = to_pandas(pa.table({"c": array}))
    assert series.dtype == table["c"].dtype
    assert series.isna().tolist() == [v is None for v in values]
    back = pa.Array.from_pandas(series, type=vtype.arrow)
    assert back.equals(array)  # lossless: every value, its type and every null survive
    if vtype.is_integer:
        assert isinstance(series.dtype, pd.api.extensions.ExtensionDtype)
        assert series.dtype.kind == "i"


def test_online_arrow_has_the_declared_types(typed: FeatureStore) -> None:
    table = typed.get_online_features(["typed"], [{"user_id": 1}, {"user_id": 3}]).to_arrow()
    for name, declared in TYPES.items():
        assert table.schema.field(name).type == ValueType.parse(declared).arrow, name
