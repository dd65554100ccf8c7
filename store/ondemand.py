"""Request-time (on-demand) features: a Python function of retrieved features and request data.

An :class:`OnDemandFeatureView` is declared once and applied by the same code
(:func:`transform`) to training frames (the whole frame at once, vectorised) and to online
responses (the requested entity rows at once), so both paths compute identical values::

    def amount_ratio(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"amount_vs_24h_mean": df["amount"] / df["usd_mean_24h"]})

    ratio = OnDemandFeatureView(
        name="txn_ratio",
        sources=["user_txn_agg:usd_mean_24h"],
        request_fields=[Field("amount", "float64")],
        fields=[Field("amount_vs_24h_mean", "float64")],
        udf=amount_ratio,
    )

The function gets a pandas DataFrame with one column per source feature (its short name) and
per request field, and returns a DataFrame with (at least) the declared output columns, same
length and order. Request data are extra columns of the entity frame offline and extra keys of
the entity rows online. The version hashes the sources, fields and the function's source code.

Request data are converted to their declared types by one function, :func:`request_array`,
whatever path they came by (a training frame, SDK entity rows, the feature server's JSON):

* ``int32`` / ``int64``: integers (not booleans, not floats: ``1.5`` is never truncated);
* ``float32`` / ``float64``: numbers, integers included, and the strings ``"NaN"``,
  ``"Infinity"``, ``"-Infinity"`` (how protobuf's JSON, and so Feast, writes non-finite
  floats); a float32 out of range is an error, not infinity;
* ``string``: strings; ``bool``: booleans;
* ``timestamp``: datetimes (naive = UTC, aware converted), or ISO 8601 strings such as
  ``"2026-11-21T10:00:00Z"`` or ``"2026-11-21T11:00:00+01:00"`` (naive = UTC); numbers are
  refused, since epoch seconds and microseconds cannot be told apart;
* ``list<T>``: lists (or tuples, arrays) of the above, items may be null;
* null (``None``, and pandas' ``NaN``/``NaT``/``NA`` in a non-float field) for any type.

An offline Arrow column whose type converts without loss (an int column for a float field, a
pandas int column with nulls made float for an int field) is cast in one go; anything else goes
value by value, so a wrong value is reported with its row.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import reprlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from store.definitions import Field
from store.errors import DefinitionError, RequestDataError
from store.types import ValueType, check_name

Udf = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass(frozen=True)
class OnDemandFeatureView:
    """Features computed at request time from other features and request data.

    Args:
        name: the view's name.
        sources: the input features, ``"view:feature"`` (or ``"view"``: all of it).
        fields: the output features (typed).
        udf: ``DataFrame -> DataFrame``, vectorised (see the module docstring).
        request_fields: request data the function needs (typed).
        description: free text.
    """

    name: str
    sources: Sequence[str]
    fields: Sequence[Field]
    udf: Udf
    request_fields: Sequence[Field] = ()
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, what="on-demand feature view")
        where = f"on-demand feature view {self.name!r}"
        if isinstance(self.sources, str) or not all(isinstance(s, str) for s in self.sources):
            raise DefinitionError(f"{where}: sources must be a list of 'view:feature' strings")
        if not self.sources:
            raise DefinitionError(f"{where}: needs at least one source feature")
        for what, group in (("fields", self.fields), ("request_fields", self.request_fields)):
            if not all(isinstance(f, Field) for f in group) or (what == "fields" and not group):
                raise DefinitionError(f"{where}: {what} must be a list of Field")
        if not callable(self.udf):
            raise DefinitionError(f"{where}: udf must be a function DataFrame -> DataFrame")
        names = [f.name for f in [*self.fields, *self.request_fields]]
        if len(set(names)) != len(names):
            raise DefinitionError(f"{where}: field and request field names must be distinct")
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "request_fields", tuple(self.request_fields))

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def spec(self) -> dict[str, Any]:
        """Everything that can change a value, including the function's source code."""
        try:
            code = inspect.getsource(self.udf)
        except (OSError, TypeError):
            code = getattr(getattr(self.udf, "__code__", None), "co_code", b"").hex()
        return {
            "name": self.name,
            "sources": list(self.sources),
            "fields": [{"name": f.name, "dtype": str(f.type)} for f in self.fields],
            "request_fields": [{"name": f.name, "dtype": str(f.type)} for f in self.request_fields],
            "udf_sha256": hashlib.sha256(code.encode()).hexdigest(),
        }

    @cached_property  # reads the function's source file: once per definition
    def version(self) -> str:
        """Content hash of :meth:`spec`."""
        blob = json.dumps(self.spec(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def transform(
    view: OnDemandFeatureView,
    inputs: dict[str, pa.Array | pa.ChunkedArray],
    request: dict[str, Sequence[Any] | pa.Array | pa.ChunkedArray],
    n_rows: int,
) -> dict[str, pa.Array]:
    """Run the view's function over ``n_rows`` rows; the outputs cast to their types.

    Args:
        inputs: source feature (short name) -> values, typed as declared (so both paths
            hand the function identical pandas dtypes).
        request: request field -> values, converted by :func:`request_array`.

    Raises:
        RequestDataError: a request field is missing or a value does not fit its type.
        DefinitionError: the function failed or returned the wrong shape (names the view).
    """
    where = f"on-demand feature view {view.name!r}"
    data: dict[str, Any] = {}
    for name, values in inputs.items():
        data[name] = values.to_pandas()
    for f in view.request_fields:
        if f.name not in request:
            raise RequestDataError(
                f"{where} needs request data {f.name!r} ({f.type}): add it to the entity "
                "frame (offline) or to every entity row (online)",
                f.name,
            )
        data[f.name] = request_array(f, request[f.name], where=where).to_pandas()
    frame = pd.DataFrame(data, index=pd.RangeIndex(n_rows))
    try:
        out = view.udf(frame)
    except Exception as exc:
        raise DefinitionError(f"{where}: udf failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(out, pd.DataFrame) or len(out) != n_rows:
        raise DefinitionError(f"{where}: udf must return a DataFrame of {n_rows} rows")
    result: dict[str, pa.Array] = {}
    for f in view.fields:
        if f.name not in out.columns:
            raise DefinitionError(f"{where}: udf returned no column {f.name!r}")
        col = out[f.name]
        try:
            result[f.name] = pa.Array.from_pandas(col.to_numpy(), type=f.type.arrow)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DefinitionError(f"{where}: udf column {f.name!r} is not {f.type}: {exc}") from exc
    return result


_INT_RANGE = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_EXPECTED = {
    "int32": "an integer",
    "int64": "an integer",
    "float32": "a number, 'NaN', 'Infinity' or '-Infinity'",
    "float64": "a number, 'NaN', 'Infinity' or '-Infinity'",
    "string": "a string",
    "bool": "a boolean",
    "timestamp": "a datetime or an ISO 8601 string such as '2026-11-21T10:00:00Z' (naive = UTC)",
}
_repr = reprlib.Repr()  # a bad value is quoted in the error, cut short
_repr.maxstring, _repr.maxother, _repr.maxlist = 60, 60, 6


class _Mismatch(ValueError):
    """A request value that does not fit its type (the message says why, or is empty)."""


def request_array(
    field: Field, values: Sequence[Any] | pa.Array | pa.ChunkedArray, *, where: str = ""
) -> pa.Array:
    """Request data for ``field`` as an Arrow array of its declared type.

    The one conversion of request data, for training frames, SDK entity rows and the feature
    server alike (the accepted values are listed in the module docstring).

    Args:
        field: the request field (name and type).
        values: one value per entity row: an Arrow column, or Python / JSON values.
        where: what needs the data (the on-demand view), for error messages.

    Raises:
        RequestDataError: a value does not fit; names the field, the type, the row and value.
    """
    vtype = field.type
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if _castable(vtype, values.type):
            try:
                return values.cast(vtype.arrow)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                pass  # e.g. 1.5 for an int: value by value, to name the row
        values = values.to_pylist()
    out: list[Any] = []
    for row, value in enumerate(values):
        try:
            out.append(_list_value(value, vtype) if vtype.is_list else _value(value, vtype.scalar))
        except _Mismatch as exc:
            expected = _EXPECTED[vtype.scalar]
            if vtype.is_list:
                expected = f"a list of items each null or {expected}"
            of = f" of {where}" if where else ""
            why = f": {exc}" if str(exc) else ""
            raise RequestDataError(
                f"entity row {row}: request data {field.name!r}{of} must be {vtype} "
                f"[{expected}; or null], got {_repr.repr(value)} ({type(value).__name__}){why}",
                field.name,
                row,
            ) from None
    return pa.array(out, vtype.arrow)


def _castable(vtype: ValueType, actual: pa.DataType) -> bool:
    """Whether an Arrow column of type ``actual`` may be cast to ``vtype`` in one go."""
    if pa.types.is_null(actual):
        return True
    if vtype.is_list:
        if not (pa.types.is_list(actual) or pa.types.is_large_list(actual)):
            return False
        return _castable(ValueType(vtype.scalar), actual.value_type)
    if pa.types.is_dictionary(actual):
        actual = actual.value_type
    if vtype.is_numeric:
        return bool(pa.types.is_integer(actual) or pa.types.is_floating(actual))
    if vtype.scalar == "timestamp":
        return bool(pa.types.is_timestamp(actual) or pa.types.is_date(actual))
    if vtype.scalar == "string":
        return bool(pa.types.is_string(actual) or pa.types.is_large_string(actual))
    return bool(pa.types.is_boolean(actual))


def _is_null(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT


def _list_value(value: Any, vtype: ValueType) -> list[Any] | None:
    if _is_null(value) or (isinstance(value, float) and math.isnan(value)):
        return None
    if not isinstance(value, list | tuple | np.ndarray):
        raise _Mismatch("")
    out = []
    for i, item in enumerate(value):
        try:
            out.append(_value(item, vtype.scalar))
        except _Mismatch as exc:
            why = f": {exc}" if str(exc) else ""
            bad = f"item {i} is {_repr.repr(item)} ({type(item).__name__}){why}"
            raise _Mismatch(bad) from None
    return out


def _value(value: Any, scalar: str) -> Any:
    """One non-list value, checked and made what ``pa.array`` takes for ``scalar``."""
    if _is_null(value):
        return None
    is_float = isinstance(value, float | np.floating)
    if is_float and math.isnan(value) and scalar not in ("float32", "float64"):
        return None  # pandas' null in a column that is not a float
    if scalar in _INT_RANGE:
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
            raise _Mismatch("")
        low, high = _INT_RANGE[scalar]
        if not low <= int(value) <= high:
            raise _Mismatch(f"out of the {scalar} range")
        return int(value)
    if scalar in ("float32", "float64"):
        return _float(value, scalar)
    if scalar == "string":
        if not isinstance(value, str):
            raise _Mismatch("")
        return str(value)
    if scalar == "bool":
        if not isinstance(value, bool | np.bool_):
            raise _Mismatch("")
        return bool(value)
    return _timestamp(value)


def _float(value: Any, scalar: str) -> float:
    if isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, int | float | np.integer | np.floating
    ):
        raise _Mismatch("")
    try:
        number = float(value)
    except OverflowError:
        raise _Mismatch(f"out of the {scalar} range") from None
    if scalar == "float32" and math.isfinite(number) and abs(number) > _FLOAT32_MAX:
        raise _Mismatch("out of the float32 range")
    return number


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise _Mismatch("not an ISO 8601 timestamp") from None
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        value = value.astype("datetime64[us]").item()  # a datetime when in its range
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime(warn=False)  # microseconds, as everywhere in the store
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise _Mismatch("out of the timestamp range") from None
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float | np.integer | np.floating):
        raise _Mismatch("a number is refused: epoch seconds or microseconds cannot be told apart")
    raise _Mismatch("")


__all__ = ["OnDemandFeatureView", "Udf", "request_array", "transform"]
