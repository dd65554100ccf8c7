"""The served log (long: one row per request, entity and feature) pivots into drift columns."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from store.audit import drift_audit
from store.audit.served import served_columns
from store.errors import AuditError


def served_log(amounts: list[float | None], countries: list[str | None]) -> pa.Table:
    names = ["amount"] * len(amounts) + ["country"] * len(countries)
    numbers = [*amounts, *[None] * len(countries)]
    strings = [*[None] * len(amounts), *countries]
    statuses = ["PRESENT" if v is not None else "MISSING" for v in [*amounts, *countries]]
    return pa.table(
        {
            "name": names,
            "feature": names,
            "status": statuses,
            "value": [str(v) for v in [*amounts, *countries]],
            "value_number": pa.array(numbers, pa.float64()),
            "value_string": pa.array(strings, pa.string()),
        }
    )


def test_served_columns_types_and_lengths() -> None:
    log = served_log([1.0, 2.5, None], ["US", "GB"])
    cols = served_columns(log, {"amount": "float64", "country": "string"})
    assert cols["amount"].to_pylist() == [1.0, 2.5, None]
    assert cols["country"].to_pylist() == ["US", "GB"]
    inferred = served_columns(log)
    assert inferred["amount"].type == pa.float64() and inferred["country"].type == pa.string()
    as_int = served_columns(served_log([1.0, 2.0], []), {"amount": "int64"})
    assert as_int["amount"].type == pa.int64()


def test_drift_of_training_frame_against_served_log() -> None:
    rng = np.random.default_rng(11)
    n = 3000
    train = pa.table({"amount": rng.normal(50, 5, n), "country": rng.choice(["US", "GB", "DE"], n)})
    served = served_log(
        list(rng.normal(50, 5, 2000)),  # same amount distribution
        [*rng.choice(["US", "GB", "DE"], 1500), *[None] * 500],  # a quarter served as missing
    )
    report = drift_audit(train, served_columns(served))
    assert report.feature("amount").status == "ok"
    country = report.feature("country")
    assert country.status == "alert" and country.flags == {"null_rate": "alert"}
    assert report.summary["current_rows"] == 2000


def test_not_a_served_log_is_a_clear_error() -> None:
    with pytest.raises(AuditError, match="missing column"):
        served_columns(pa.table({"x": [1]}))
    with pytest.raises(AuditError, match="'country' does not read as timestamp"):
        served_columns(served_log([], ["US"]), {"country": "timestamp"})
