"""Drift audit inputs from the definitions: per-feature thresholds and declared types.

Thresholds are set per feature in the definitions (``Field(..., drift={"psi_alert": 0.4})``)
and apply under both output names a frame may use: ``feature`` and ``view__feature``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TypeAlias

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from store.audit.thresholds import Thresholds
from store.definitions import FeatureView
from store.errors import AuditError
from store.ondemand import OnDemandFeatureView
from store.types import ValueType

Frame: TypeAlias = pa.Table | pd.DataFrame | str | Path


def definition_thresholds(
    views: Iterable[FeatureView | OnDemandFeatureView],
) -> dict[str, Thresholds]:
    """Output name -> thresholds of every feature that sets ``drift`` in its definition.

    Raises:
        AuditError: a ``drift`` mapping names an unknown threshold (the message names it).
    """
    out: dict[str, Thresholds] = {}
    for view in views:
        for f in view.fields:
            if f.drift:
                try:
                    found = Thresholds.from_mapping(f.drift, what=f"feature {view.name}:{f.name}")
                except ValueError as exc:
                    raise AuditError(str(exc)) from exc
                out[f.name] = out[f"{view.name}__{f.name}"] = found
    return out


def declared_types(views: Iterable[FeatureView | OnDemandFeatureView]) -> dict[str, ValueType]:
    """Output name (``feature`` and ``view__feature``) -> declared type, for feature,
    aggregation and on-demand views alike."""
    out: dict[str, ValueType] = {}
    for view in views:
        for f in view.fields:
            out[f.name] = out[f"{view.name}__{f.name}"] = f.type
    return out


def as_table(frame: Frame, *, what: str) -> pa.Table:
    """A training frame, another frame or a Parquet path, as an Arrow table.

    Raises:
        AuditError: the path does not exist or is not Parquet (names it).
    """
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pd.DataFrame):
        return pa.Table.from_pandas(frame, preserve_index=False)
    path = Path(frame)
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise AuditError(f"{what} {path}: not a readable Parquet file ({exc})") from exc
