"""No silent change of a value on its way to its declared type: float32 range in list items,
timestamps finer than a microsecond."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from store.convert import BadValue, from_text, to_array, to_value

US = pa.timestamp("us", tz="UTC")


def test_a_list_item_beyond_float32_is_refused_not_made_infinite() -> None:
    column = pa.array([[1.0, None], [2.0, 1e300]], pa.list_(pa.float64()))
    with pytest.raises(BadValue, match=r"item 1 .*out of the float32 range") as err:
        to_array(column, pa.list_(pa.float32()))
    assert err.value.row == 1
    fine = to_array(pa.array([[1.5, None], None], pa.list_(pa.float64())), pa.list_(pa.float32()))
    assert fine.to_pylist() == [[1.5, None], None]


@pytest.mark.parametrize(
    "value",
    [
        pd.Timestamp("2026-01-01 00:00:00.000001001", tz="UTC"),
        np.datetime64("2026-01-01T00:00:00.000000001"),
        "2026-01-01T00:00:00.0000015Z",
    ],
)
def test_a_timestamp_finer_than_a_microsecond_is_refused(value: object) -> None:
    with pytest.raises(BadValue, match="finer than a microsecond"):
        to_value(value, US)


def test_a_nanosecond_column_is_refused_naming_the_row_unless_whole_microseconds() -> None:
    with pytest.raises(BadValue, match="finer than a microsecond") as err:
        to_array(pa.array([0, 1500], pa.timestamp("ns", tz="UTC")), US)
    assert err.value.row == 1
    whole = to_array(pa.array([0, 1000], pa.timestamp("ns", tz="UTC")), US)
    assert whole.to_pylist()[1] == datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert from_text("2026-01-01T00:00:00.000001000", US) == datetime(
        2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC
    )
