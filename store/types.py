"""Value types of features and join keys, and their Arrow / DuckDB equivalents.

A type is written as a string in definitions: ``int32``, ``int64``, ``float32``, ``float64``,
``string``, ``bool``, ``timestamp`` (UTC, microseconds), or ``list<T>`` of any of these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from store.errors import DefinitionError

SCALARS: dict[str, tuple[pa.DataType, str]] = {
    "int32": (pa.int32(), "INTEGER"),
    "int64": (pa.int64(), "BIGINT"),
    "float32": (pa.float32(), "FLOAT"),
    "float64": (pa.float64(), "DOUBLE"),
    "string": (pa.string(), "VARCHAR"),
    "bool": (pa.bool_(), "BOOLEAN"),
    "timestamp": (pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ"),
}
_LIST = re.compile(r"list<\s*(\w+)\s*>")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class ValueType:
    """A feature or key type: a scalar name, or a list of a scalar."""

    scalar: str
    is_list: bool = False

    @classmethod
    def parse(cls, text: str | ValueType, *, what: str = "type") -> ValueType:
        """Parse ``"int64"`` or ``"list<float64>"``; raise DefinitionError naming ``what``."""
        if isinstance(text, ValueType):
            return text
        if not isinstance(text, str):
            raise DefinitionError(f"{what}: type must be a string like 'int64', got {text!r}")
        raw = text.strip().lower()
        match = _LIST.fullmatch(raw)
        scalar, is_list = (match.group(1), True) if match else (raw, False)
        if scalar not in SCALARS:
            allowed = ", ".join(SCALARS)
            raise DefinitionError(
                f"{what}: unknown type {text!r}; use one of {allowed}, or list<T> of those"
            )
        return cls(scalar, is_list)

    def __str__(self) -> str:
        return f"list<{self.scalar}>" if self.is_list else self.scalar

    @property
    def arrow(self) -> pa.DataType:
        """The Arrow type values of this type are returned as."""
        base = SCALARS[self.scalar][0]
        return pa.list_(base) if self.is_list else base

    @property
    def duckdb(self) -> str:
        """The DuckDB SQL type values of this type are cast to."""
        base = SCALARS[self.scalar][1]
        return f"{base}[]" if self.is_list else base

    @property
    def is_numeric(self) -> bool:
        return not self.is_list and self.scalar in {"int32", "int64", "float32", "float64"}

    @property
    def is_integer(self) -> bool:
        return not self.is_list and self.scalar in {"int32", "int64"}


def check_name(name: object, *, what: str) -> str:
    """Validate an identifier that will reach SQL or a Redis key: ``[A-Za-z_][A-Za-z0-9_]*``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > 128:
        raise DefinitionError(
            f"{what} name {name!r} is not valid: use letters, digits and underscores, "
            "starting with a letter or underscore (at most 128 characters)"
        )
    return name


def compatible(declared: ValueType, actual: pa.DataType) -> bool:
    """Whether a source column of Arrow type ``actual`` can be read as ``declared`` losslessly."""
    if declared.is_list:
        if not (pa.types.is_list(actual) or pa.types.is_large_list(actual)):
            return False
        return compatible(ValueType(declared.scalar), actual.value_type)
    if pa.types.is_dictionary(actual):
        actual = actual.value_type
    checks = {
        "int32": lambda t: pa.types.is_integer(t) and t.bit_width <= 32,
        "int64": lambda t: (
            pa.types.is_integer(t) and (t.bit_width < 64 or pa.types.is_signed_integer(t))
        ),
        "float32": lambda t: pa.types.is_float32(t) or pa.types.is_float16(t),
        "float64": lambda t: pa.types.is_floating(t) or pa.types.is_integer(t),
        "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
        "bool": pa.types.is_boolean,
        "timestamp": lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t),
    }
    return bool(checks[declared.scalar](actual))


def _pandas_dtype(arrow: pa.DataType) -> object | None:
    """The pandas dtype that holds ``arrow`` values and nulls without changing their type.

    NumPy integers and booleans have no null (pandas would turn an int64 column with one null
    into float64, a bool column into object): they become pandas' nullable ``Int32``/``Int64``
    and ``boolean``. Lists keep their element type as an Arrow-backed dtype. Floats (null is
    NaN), strings and timestamps (null is NaT) already keep their type.
    """
    import pandas as pd

    if pa.types.is_int32(arrow):
        return pd.Int32Dtype()
    if pa.types.is_int64(arrow):
        return pd.Int64Dtype()
    if pa.types.is_boolean(arrow):
        return pd.BooleanDtype()
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return pd.ArrowDtype(arrow)
    return None


def to_pandas(data: pa.Table | pa.Array | pa.ChunkedArray) -> Any:
    """The pandas form of Arrow values: every column keeps its declared type, nulls included.

    The one conversion used by training frames, online responses and on-demand functions, so
    an ``int64`` feature is ``Int64`` in all of them (see :func:`_pandas_dtype`). Columns a
    table got from a pandas DataFrame (recorded in its pandas metadata, e.g. an entity frame's
    own columns passed through) come back with the dtype they had.

    Returns:
        A ``pandas.DataFrame`` for a table, a ``pandas.Series`` for an array.
    """
    if not isinstance(data, pa.Table):  # as a table's column: same dtypes (strings differ)
        return pa.table({"values": data}).to_pandas(types_mapper=_pandas_dtype)["values"]
    meta = data.schema.pandas_metadata or {}
    theirs = {c.get("field_name") for c in meta.get("columns", [])} & set(data.column_names)
    if not theirs:
        return data.to_pandas(types_mapper=_pandas_dtype)
    ours = [n for n in data.column_names if n not in theirs]
    frame = data.drop_columns(ours).to_pandas()
    for i, name in enumerate(data.column_names):
        if name in ours:  # .array: placed by position, whatever index the metadata restored
            frame.insert(i, name, data.column(name).to_pandas(types_mapper=_pandas_dtype).array)
    return frame
