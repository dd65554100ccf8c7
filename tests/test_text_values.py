"""Text cells (CSV push, ``parity get -e``) are read as their declared type by one function,
``store.convert.from_text``: no second parser with its own idea of null, bool or numbers."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from store import FeatureStore, PushError
from store.cli_values import parse_value
from store.convert import BadValue, from_text, text_array, to_value
from store.types import ValueType

from .test_push_and_failures import NOW, fs  # noqa: F401  (the fixture)

INT, FLOAT, F32 = ValueType.parse("int64"), ValueType.parse("float64"), ValueType.parse("float32")
BOOL, TS = ValueType.parse("bool"), ValueType.parse("timestamp")


@pytest.mark.parametrize(
    ("text", "vtype", "expected"),
    [
        ("7", INT, 7),
        ("7.0", INT, 7),  # JSON's 7.0 is accepted, so is the text
        ("-3", INT, -3),
        ("9007199254740993", INT, 9007199254740993),
        ("20.5", FLOAT, 20.5),
        ("Infinity", FLOAT, math.inf),
        ("true", BOOL, True),
        ("False", BOOL, False),
        ("2026-01-01 00:00:00", TS, datetime(2026, 1, 1, tzinfo=UTC)),  # naive = UTC
        ("2026-01-01T02:00:00+02:00", TS, datetime(2026, 1, 1, tzinfo=UTC)),
        ("[1, null, 3]", ValueType.parse("list<int64>"), [1, None, 3]),
        (None, INT, None),
    ],
)
def test_text_reads_as_the_declared_type(text: str | None, vtype: ValueType, expected: Any) -> None:
    assert from_text(text, vtype) == expected


@pytest.mark.parametrize(
    ("text", "vtype"),
    [
        ("1", BOOL),
        ("0", BOOL),
        ("NaN", INT),
        ("N/A", INT),
        ("", INT),
        ("7.5", INT),
        ("9007199254740993.5", INT),
        ("9223372036854775808", INT),
        ("N/A", FLOAT),
        ("1e400", FLOAT),
        ("1e300", F32),
        ("inf", FLOAT),
        ("1_000", INT),
        ("yesterday", TS),
        ("[1, 2", ValueType.parse("list<int64>")),
    ],
)
def test_text_that_is_not_the_type_is_refused(text: str, vtype: ValueType) -> None:
    with pytest.raises(BadValue):
        from_text(text, vtype)


def test_nan_text_in_a_float_column_is_nan_not_null() -> None:
    assert math.isnan(from_text("NaN", FLOAT))


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_integer_text_round_trips(value: int) -> None:
    assert from_text(str(value), INT) == value
    assert from_text(f"{value}.0", INT) == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_matches_the_value_conversion(value: float) -> None:
    assert from_text(repr(value), FLOAT) == to_value(value, FLOAT)


def test_cli_get_uses_the_same_reading() -> None:
    assert parse_value("7.0", INT) == 7
    assert parse_value("null", INT) is None
    with pytest.raises(typer.BadParameter, match="'flag'"):
        parse_value("1", BOOL, key="flag")  # bool takes true/false, as a CSV cell does


def test_text_array_names_the_row() -> None:
    with pytest.raises(BadValue) as err:
        text_array(pa.array(["1", "2", "N/A"]), INT)
    assert err.value.row == 2


def _csv(path: Path, body: str) -> Path:
    path.write_text("user_id,event_timestamp,created,amount\n" + body)
    return path


def test_csv_push_reads_cells_by_the_one_text_reading(fs: FeatureStore, tmp_path: Path) -> None:  # noqa: F811
    event = NOW.strftime("%Y-%m-%d %H:%M:%S")  # naive = UTC
    good = _csv(tmp_path / "good.csv", f"7.0,{event},{event},NaN\n8,{event},,\n")
    fs.push("stats", str(good))
    values = fs.get_online_features(["stats:amount"], [{"user_id": 7}, {"user_id": 8}])
    first, second = values.columns[0].values
    assert isinstance(first, float) and math.isnan(first)  # NaN, not null
    assert second is None  # an empty cell is null


@pytest.mark.parametrize("cell", ["NaN", "N/A", '""', "7.5"])
def test_csv_push_refuses_a_bad_integer_cell(fs: FeatureStore, tmp_path: Path, cell: str) -> None:  # noqa: F811
    event = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    bad = _csv(tmp_path / "bad.csv", f"1,{event},{event},1.0\n{cell},{event},{event},2.0\n")
    with pytest.raises(PushError, match=r"data row 2: column 'user_id'"):
        fs.push("stats", str(bad))
