"""The codec round-trips every value exactly, one at a time and a column at a time."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.online.codec import CodecError, decode, encode, encode_column
from store.types import ValueType

INT64 = st.integers(-(2**63), 2**63 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)
# Any 64-bit pattern is a float64, including every NaN payload, ±inf and -0.0.
FLOAT64_BITS = st.integers(0, 2**64 - 1)
TIMESTAMPS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "int64": INT64,
    "int32": INT32,
    "float64": st.floats(allow_nan=True, allow_infinity=True),
    "float32": st.floats(width=32, allow_nan=False),
    "string": st.text(),
    "bool": st.booleans(),
    "timestamp": TIMESTAMPS,
}


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


def same(a: Any, b: Any) -> bool:
    """Equality that tells floats apart bit for bit (NaN == NaN of the same payload)."""
    if isinstance(a, float) and isinstance(b, float):
        return _bits(a) == _bits(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@given(FLOAT64_BITS)
def test_float64_is_bit_exact(bits: int) -> None:
    value = struct.unpack("<d", struct.pack("<Q", bits))[0]
    assert _bits(decode(encode(value, ValueType("float64")))) == _bits(value)


@pytest.mark.parametrize("value", [math.inf, -math.inf, -0.0, 0.0, math.nan, 5e-324])
def test_special_floats(value: float) -> None:
    assert same(decode(encode(value, ValueType("float64"))), value)


@given(st.lists(FLOAT64_BITS, max_size=20), st.lists(st.booleans(), max_size=20))
def test_float64_column_keeps_nan_payloads(bits: list[int], nulls: list[bool]) -> None:
    raw = np.array(bits, dtype=np.uint64).view(np.float64)
    mask = np.array([i < len(nulls) and nulls[i] for i in range(len(bits))], dtype=bool)
    column = pa.array(raw, mask=mask, type=pa.float64())
    encoded = encode_column(column, ValueType("float64"))
    for i, payload in enumerate(encoded):
        if mask[i]:
            assert decode(payload) is None
        else:
            assert _bits(decode(payload)) == raw[i : i + 1].tobytes()


@pytest.mark.parametrize("scalar", sorted(SCALARS))
@settings(max_examples=60)
@given(data=st.data())
def test_scalar_round_trip(scalar: str, data: st.DataObject) -> None:
    vtype = ValueType(scalar)
    value = data.draw(st.none() | SCALARS[scalar])
    assert same(decode(encode(value, vtype)), value)


@pytest.mark.parametrize("scalar", sorted(SCALARS))
@settings(max_examples=40)
@given(data=st.data())
def test_list_round_trip_with_null_items(scalar: str, data: st.DataObject) -> None:
    vtype = ValueType(scalar, is_list=True)
    value = data.draw(st.none() | st.lists(st.none() | SCALARS[scalar], max_size=12))
    assert same(decode(encode(value, vtype)), value)


@pytest.mark.parametrize("scalar", sorted(SCALARS))
@settings(max_examples=40)
@given(data=st.data())
def test_column_encoding_equals_value_encoding(scalar: str, data: st.DataObject) -> None:
    for is_list in (False, True):
        vtype = ValueType(scalar, is_list)
        item = st.none() | SCALARS[scalar]
        values = data.draw(st.lists(st.none() | st.lists(item) if is_list else item, max_size=15))
        column = pa.array(values, type=vtype.arrow)
        assert encode_column(column, vtype) == [encode(v, vtype) for v in values]
        sliced = column.slice(1)  # a non-zero Arrow offset must not shift values
        assert encode_column(sliced, vtype) == [encode(v, vtype) for v in values[1:]]


def test_chunked_and_int32_columns() -> None:
    chunked = pa.chunked_array([[1, None], [3]], type=pa.int32())
    assert [decode(b) for b in encode_column(chunked, ValueType("int32"))] == [1, None, 3]


def test_unicode_and_empty() -> None:
    for text in ["", "é", "日本語", "a\x00b", "🙂|:{}"]:
        assert decode(encode(text, ValueType("string"))) == text
    assert decode(encode([], ValueType("string", True))) == []
    assert decode(encode([None, None], ValueType("int64", True))) == [None, None]


def test_timestamps_are_utc_and_exact() -> None:
    naive = datetime(2024, 3, 1, 12, 0, 0, 7)
    aware = datetime(2024, 3, 1, 13, 0, 0, 7, tzinfo=timezone(timedelta(hours=1)))
    expected = datetime(2024, 3, 1, 12, 0, 0, 7, tzinfo=UTC)
    assert decode(encode(naive, ValueType("timestamp"))) == expected
    decoded = decode(encode(aware, ValueType("timestamp")))
    assert decoded == expected and decoded.tzinfo == UTC


def test_floats_are_compact_not_text() -> None:
    assert len(encode(0.1, ValueType("float64"))) == 9
    assert len(encode(1, ValueType("int64"))) == 9
    assert encode(True, ValueType("bool")) == b"T"


@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        ("1", "int64"),
        (True, "int64"),
        (2**63, "int64"),
        (2**31, "int32"),
        ("x", "float64"),
        (1, "string"),
        (1, "bool"),
        ("2024", "timestamp"),
        ("ab", "list<string>"),
        ([1.5], "list<int64>"),
    ],
)
def test_wrong_types_are_rejected(value: Any, dtype: str) -> None:
    with pytest.raises(CodecError):
        encode(value, ValueType.parse(dtype))


def test_corrupt_payload() -> None:
    for payload in [b"", b"i\x01", b"z", b"l\x00"]:
        with pytest.raises(CodecError):
            decode(payload)
