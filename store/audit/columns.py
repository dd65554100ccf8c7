"""Arrow columns to what the drift metrics need: types, floats, null rates, bin labels."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from store.types import ValueType


def infer_type(dtype: pa.DataType) -> ValueType | None:
    """The feature type an Arrow column type reads as (None: not auditable, e.g. binary)."""
    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        inner = infer_type(dtype.value_type)
        return ValueType(inner.scalar, is_list=True) if inner else None
    checks = [
        ("bool", pa.types.is_boolean),
        ("int64", pa.types.is_integer),
        ("float64", pa.types.is_floating),
        ("string", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
        ("timestamp", lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t)),
    ]
    return next((ValueType(name) for name, check in checks if check(dtype)), None)


def as_float(column: pa.ChunkedArray) -> np.ndarray:
    """Numbers as float64 with nulls as NaN; timestamps and dates as epoch microseconds."""
    dtype = column.type
    if pa.types.is_dictionary(dtype):
        column = column.cast(dtype.value_type)
    if pa.types.is_date(column.type):
        column = column.cast(pa.timestamp("us"))
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    return np.asarray(column.cast(pa.float64()).to_numpy(), dtype=np.float64)


def null_rate(column: pa.ChunkedArray) -> float:
    """Share of nulls, NaN included for float columns; 0 for an empty column."""
    if len(column) == 0:
        return 0.0
    nulls = int(column.null_count)
    if pa.types.is_floating(column.type):
        nulls += int(pc.sum(pc.is_nan(column)).as_py() or 0)
    return float(nulls / len(column))


def edge_labels(edges: np.ndarray, *, is_time: bool = False) -> list[str]:
    """One label per bin of ``edges``: ``< a``, ``a – b`` ..., ``≥ z`` (``= c`` for constants)."""
    inner = _format_edges(edges[1:-1], is_time=is_time)
    if not inner:
        return ["all"]
    if len(inner) == 2 and edges[2] == np.nextafter(edges[1], np.inf):  # constant baseline
        value = _format_edges(edges[1:2], is_time=is_time)[0]
        return [f"< {value}", f"= {value}", f"> {value}"]
    return [
        f"< {inner[0]}",
        *(f"{a} – {b}" for a, b in itertools.pairwise(inner)),
        f"≥ {inner[-1]}",
    ]


def _format_edges(edges: np.ndarray, *, is_time: bool) -> list[str]:
    """Edge labels: UTC times for timestamps; else as many decimals as the bin widths need."""
    if is_time:
        times = edges.astype(np.int64).astype("datetime64[us]")
        wide = edges.size < 2 or float(np.min(np.diff(edges))) >= 2 * 86_400_000_000
        unit = "D" if wide else "m"
        return [str(t).replace("T", " ") for t in times.astype(f"datetime64[{unit}]")]
    if edges.size == 0:
        return []
    span = float(np.max(np.abs(edges)))
    if span >= 1e6:
        return [f"{e:.4g}" for e in edges]
    widths = np.diff(edges)
    scale = float(np.min(widths[widths > 0])) if np.any(widths > 0) else max(span, 1.0)
    if scale < 1e-9 * max(span, 1.0):
        return [f"{e:.6g}" for e in edges]
    decimals = min(max(1 - math.floor(math.log10(scale)), 0), 6)
    return [f"{e:.{decimals}f}" for e in edges]
