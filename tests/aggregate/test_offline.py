"""Offline window aggregations equal the plain reference (hypothesis), borders included; float
sums and means bit for bit."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings

from store.offline.retrieval import get_historical_features
from store.registry import Definitions, resolve_features
from store.testing import PitCase

from ..offline.conftest import case_view, engine_for, write_case
from .helpers import NAMES, agg_cases, agg_view, exact, expected

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _frame(case: PitCase) -> pd.DataFrame:
    data: dict[str, Any] = {"k1": [k[0] for k, _ in case.entities]}
    if case.compound:
        data["k2"] = [k[1] for k, _ in case.entities]
    data["event_timestamp"] = pd.Series([t for _, t in case.entities]).dt.tz_convert("UTC")
    data["label"] = range(len(case.entities))
    return pd.DataFrame(data)


@SETTINGS
@given(case=agg_cases())
def test_training_frame_equals_reference(case: PitCase) -> None:
    """Aggregations next to a plain view in one training frame, row order kept."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if not case.rows:
            case = PitCase([], case.entities, case.rule, case.compound, case.has_created, 1)
            path = "data/src/*.parquet"
        else:
            path = "data/src"
        write_case(root, case)
        defs = Definitions(views={"v": case_view(case, path), "agg": agg_view(case, path)})
        refs = resolve_features(defs, ["agg", "v:f_int"], full_feature_names=True)
        got = get_historical_features(engine_for(root), defs, refs, _frame(case)).to_arrow()
        rows = list(zip(*(got[f"agg__{n}"].to_pylist() for n in NAMES), strict=True))
        want = [expected(case, key, t) for key, t in case.entities]
        assert [exact(r) for r in rows] == [exact(r) for r in want]
        assert got["label"].to_pylist() == list(range(len(case.entities)))
